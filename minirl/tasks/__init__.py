"""Tasks: prompts, gold answers and default rewards."""
