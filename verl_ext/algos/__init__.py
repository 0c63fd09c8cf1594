"""ReVisual-R1's algorithms as pure tensor functions: PAD, the stagnation-aware GRPO estimator, schedules."""
