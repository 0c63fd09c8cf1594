"""Settings for every test. Tests, not launchers, switch wandb off: a user who asks verl for
``trainer.logger=[...,wandb]`` gets it (``verl_ext/tracking.py``), a test run never talks to wandb."""

import os

os.environ["WANDB_MODE"] = "disabled"
