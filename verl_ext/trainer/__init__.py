"""verl trainer subclasses and entry points for the ReVisual-R1 stages."""
