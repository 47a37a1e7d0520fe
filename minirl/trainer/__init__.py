"""The GRPO training loop, its config, checkpoints and metrics."""

from minirl.trainer.loop import GRPOTrainer, TrainingDivergedError

__all__ = ["GRPOTrainer", "TrainingDivergedError"]
