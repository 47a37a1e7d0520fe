"""A GRPO step's metrics, assembled apart from the step from the typed records the step passes on.

Every step logs its rewards and quality metrics (``minirl.trainer.rewards``), the update's loss, gradient norm,
learning rate and per-token statistics (``minirl.trainer.update``), its own phase times (``time/rollout``,
``time/score``, ``time/frozen_logps``, ``time/forward_backward``, ``time/optimizer``; ``step_time`` and ``train_time``
for the whole step and its update), token counts (``tokens/generated``, ``tokens/prompt``) and the peak memory of
each phase (``memory/<phase>_gib`` and ``memory/peak_gib``: resident memory on a CPU, allocated memory on CUDA;
``minirl.memory``), so a benchmark reads them instead of patching the trainer. The rollout time is logged once, as
``time/rollout``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from minirl.rollout.generate import Rollout
from minirl.trainer.rewards import Scores
from minirl.trainer.update import UpdateResult, mean


@dataclass(frozen=True)
class StepTimes:
    """The ``time.perf_counter()`` marks of one step, in seconds: its start, the end of the rollout, the end of the
    scoring, the start of the update and the end of the step."""

    start: float
    rollout_done: float
    scored: float
    update_start: float
    end: float


def reward_metrics(scores: Scores, zero_var: torch.Tensor) -> dict[str, float]:
    """The rollout's reward metrics: the scorer's, then the mean and spread of the total reward and the share of
    groups without signal.

    Args:
        scores: the rollout's rewards (``total [N]``) and quality metrics.
        zero_var: ``[B]`` True for each group whose rewards are all equal.
    """
    total = scores.total  # [N]
    return {
        **scores.metrics,
        "reward": float(total.mean()),
        "reward_std": float(total.std()) if total.numel() > 1 else 0.0,
        "zero_variance_frac": float(zero_var.float().mean()),
    }


def update_metrics(update: UpdateResult) -> dict[str, float]:
    """The update's statistics (``<name>_mean`` logged as ``<name>``), each averaged over the update's optimizer
    steps, then its mean loss and last gradient norm.

    >>> update_metrics(UpdateResult([1.0, 3.0], [{"kl_mean": 0.5}, {"kl_mean": 1.5}], 2.0, {}))
    {'kl': 1.0, 'loss': 2.0, 'grad_norm': 2.0}
    """
    stats = update.stats
    out = {key.removesuffix("_mean"): mean([s[key] for s in stats]) for key in (stats[0] if stats else {})}
    return {**out, "loss": mean(update.losses), "grad_norm": update.grad_norm}


def step_metrics(
    scores: Scores,
    zero_var: torch.Tensor,
    update: UpdateResult,
    lr: float,
    roll: Rollout,
    keep: torch.Tensor,
    times: StepTimes,
    memory: dict[str, float],
    stage: int | None = None,
) -> dict[str, float]:
    """The metrics of one step on this process, in the order ``metrics.jsonl`` logs them.

    Args:
        scores: the rollout's rewards (``total [N]``) and quality metrics.
        zero_var: ``[B]`` True for each group whose rewards are all equal.
        update: what the policy update returned (losses, statistics, gradient norm, phase times).
        lr: the learning rate after the update.
        roll: the rollout, for its token counts (``lengths [N]``, ``prompt_mask [N, P]``).
        keep: ``[N]`` True for each completion the update trained on.
        times: the step's time marks.
        memory: the peak memory of each phase (``PeakMemory.metrics()``).
        stage: the step's curriculum stage, None without a curriculum.
    """
    generated = float(roll.lengths.sum())  # [N] summed
    rollout_s = times.rollout_done - times.start
    return {
        **reward_metrics(scores, zero_var),
        **update_metrics(update),
        "lr": lr,
        "step_time": times.end - times.start,
        "train_time": times.end - times.update_start,
        "tokens_per_s": generated / max(rollout_s, 1e-9),
        "kept_frac": float(keep.float().mean()),  # [N] -> share kept
        "tokens/generated": generated,
        "tokens/prompt": float(roll.prompt_mask.sum()),  # [N, P] G copies of each prompt, as TRL counts them
        "time/rollout": rollout_s,
        "time/score": times.scored - times.rollout_done,
        **({"curriculum/stage": stage} if stage is not None else {}),
        **{f"time/{k}": v for k, v in update.times.items()},
        **memory,  # each phase's peak: resident memory on a CPU, allocated GPU memory on CUDA
    }


def gather_metrics(metrics: dict[str, float], accelerator) -> dict[str, float]:
    """``metrics`` averaged over the processes of ``accelerator`` (NaN-aware; itself with one process)."""
    if accelerator.num_processes == 1:
        return metrics
    keys = sorted(metrics)
    vals = torch.tensor([metrics[k] for k in keys], dtype=torch.float64, device=accelerator.device)  # [K]
    gathered = accelerator.gather(vals.unsqueeze(0))  # [world, K]
    mean_ = torch.nanmean(gathered, dim=0)  # [K]
    return {k: float(v) for k, v in zip(keys, mean_)}
