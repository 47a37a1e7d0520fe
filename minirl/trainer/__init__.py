"""The GRPO training loop, its config, checkpoints and metrics."""
