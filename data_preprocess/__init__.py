"""Turn released ReVisual-R1 data, public math sets and synthetic tasks into verl parquet.

Every converter shares one prompt constant (:data:`RL_INSTRUCTION`), one row schema
(:mod:`data_preprocess.schema`), one validation module and one streaming writer, so all
RL parquet files in this project have exactly the same columns and types.
"""

from data_preprocess.prompt import IMAGE_PLACEHOLDER, RL_INSTRUCTION, build_rl_prompt, build_user_content

__all__ = ["IMAGE_PLACEHOLDER", "RL_INSTRUCTION", "build_rl_prompt", "build_user_content"]
