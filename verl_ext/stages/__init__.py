"""ReVisual-R1 stages 1 and 3 and the pipeline that chains stages 1 -> 2 -> 3."""
