"""Evaluation: pass@k, maj@k, format and language-mix rates, with 95% intervals."""
