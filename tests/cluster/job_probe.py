"""Run as a Ray job entrypoint by test_device_choice.py: the launcher's device steps, then one real worker.

It takes the launcher's own steps (device decision, environment, runtime env for the workers),
starts the driver with that runtime env the way verl does (``ray.init(**ray_kwargs.ray_init)``),
and asks a Ray task what it sees. Prints one line: ``PROBE {json}``.
"""

import json
import os
import sys

import ray
from omegaconf import OmegaConf

from verl_ext.trainer.main import forward_env_to_ray, prepare_process_environment

argv = prepare_process_environment(sys.argv[1:])
config = OmegaConf.create({"ray_kwargs": {"ray_init": {"num_cpus": 32, "num_gpus": 1}}})
forward_env_to_ray(config)
ray.init(**OmegaConf.to_container(config.ray_kwargs.ray_init))


@ray.remote(num_cpus=0)
def worker_env():
    return {name: os.environ.get(name) for name in ("VERL_PLATFORM", "REVISUAL_DEVICE", "VERL_USE_EXTERNAL_MODULES")}


report = {
    "argv": argv,
    "driver_verl_platform": os.environ.get("VERL_PLATFORM"),
    "forwarded": OmegaConf.to_container(config.ray_kwargs.ray_init.runtime_env.env_vars),
    "ray_init_keys": sorted(config.ray_kwargs.ray_init.keys()),
    "worker": ray.get(worker_env.remote()),
}
print("PROBE " + json.dumps(report), flush=True)
