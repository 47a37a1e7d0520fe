"""GRPO math: group-relative advantages and the clipped policy loss (see the modules' docstrings)."""
