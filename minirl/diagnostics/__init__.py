"""Preflight and live training diagnostics: say when GRPO cannot learn, and why."""
