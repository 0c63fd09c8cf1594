"""revisual: the ReVisual-R1 recipe (cold start, multimodal RL with PAD, text RL) on verl.

Importing this package is cheap and never touches a GPU library; verl-facing registration lives in
:mod:`verl_ext.plugin`, which verl loads in each of its processes.
"""

__version__ = "0.1.0"
