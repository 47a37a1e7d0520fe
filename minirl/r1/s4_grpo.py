"""Stage 4 of the R1 pipeline: reasoning-oriented RL with GRPO (R1 paper, sec. 2.3.2), from the cold-start model.

The RL itself is the library's core, shared with R1-Zero (``recipes/r1_zero.py``): sampling in :mod:`minirl.rollout`,
the loss in :mod:`minirl.grpo`, the loop in :mod:`minirl.trainer`. This stage runs it on the pipeline's
:class:`~minirl.config.TrainConfig` (its model is the stage-3 SFT model, its rewards add language consistency) and
hands the trained policy to stage 5 (:mod:`minirl.r1.s5_rejection`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from minirl.config import TrainConfig
from minirl.trainer import GRPOTrainer
from minirl.trainer.rundir import EvalContext

T = TypeVar("T")


def run_grpo(
    train_cfg: TrainConfig, *, evaluate: Callable[[EvalContext], T] | None = None
) -> tuple[GRPOTrainer, T | None, T | None]:
    """Stage 4: GRPO with ``train_cfg``, and its report; ``evaluate`` runs before and after training.

    ``evaluate`` gets the run's :class:`~minirl.trainer.rundir.EvalContext` of that moment
    (``GRPOTrainer.eval_context()``: the policy, its tokenizer, task, prompt style and step, ...), not the trainer.
    Returns ``(trainer, before, after)`` where ``before``/``after`` are what ``evaluate`` returned (``None``
    without it).
    """
    trainer = GRPOTrainer(train_cfg)
    before = evaluate(trainer.eval_context()) if evaluate else None
    trainer.train()
    after = evaluate(trainer.eval_context()) if evaluate else None
    trainer.write_report()
    return trainer, before, after
