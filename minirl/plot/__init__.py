"""Curves from one or several runs' ``metrics.jsonl``."""
