"""Group-relative advantages: the "G" in GRPO.

GRPO (DeepSeekMath, arXiv:2402.03300, eq. 3 and sec. 4.1.2 "outcome supervision") drops PPO's value network. For
each prompt it samples a *group* of G completions with rewards r_1..r_G and gives every token of completion i the
same advantage

    A_i = (r_i - mean(r_1..r_G)) / std(r_1..r_G)

Dr. GRPO (arXiv:2503.20783, sec. 3.1) shows that dividing by the group std up-weights questions that are too easy or
too hard (low std), and recommends the plain difference A_i = r_i - mean. TRL calls the choice ``scale_rewards``;
we offer the same three values:

- ``"group"``: divide by the group std (GRPO, TRL's default);
- ``"batch"``: divide by the std of the whole batch (group mean still as baseline; TRL's ``"batch"``);
- ``"none"``:  no division (Dr. GRPO).

Layout: the N = B*G completions of a batch are stored prompt-major, so group b is rows b*G .. b*G+G-1.

Where we follow TRL (1.16, ``GRPOTrainer._generate_and_score_completions``) rather than the paper:

- the std is the *unbiased* one (Bessel's correction, ``torch.std``), and we divide by ``std + eps`` with
  ``eps = 1e-4`` so a group whose rewards are all equal gets advantages 0 instead of NaN;
- the reward of a completion is the weighted sum of several reward functions, skipping functions that returned
  ``None`` for it (``rewards_to_tensor``). A completion that *every* function skipped is unscorable: pass
  ``valid`` to ``compute_advantages`` and it is left out of its group's mean/std and gets advantage 0, as in TRL.

Departure: TRL silently propagates a NaN reward; we raise, naming the row.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from minirl.config import SCALE_REWARDS


def _check_rewards(rewards: Tensor, num_generations: int, valid: Tensor | None = None) -> None:
    """Raise a clear ValueError for rewards that cannot be split into groups, or that hold NaN."""
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D [B*G], got shape {tuple(rewards.shape)}")
    if num_generations < 2:
        raise ValueError(
            f"num_generations must be >= 2 (a group needs at least two completions to compare), got {num_generations}"
        )
    if rewards.numel() == 0 or rewards.numel() % num_generations:
        raise ValueError(
            f"rewards has {rewards.numel()} entries, which is not a positive multiple of num_generations="
            f"{num_generations}; pass all G completions of every prompt, prompt-major (rows b*G .. b*G+G-1)."
        )
    if valid is not None and valid.shape != rewards.shape:
        raise ValueError(
            f"valid must have the shape of rewards {tuple(rewards.shape)}, got {tuple(valid.shape)}"
        )
    checked = torch.isnan(rewards) if valid is None else torch.isnan(rewards) & valid.bool()  # [B*G]
    if checked.any():
        row = int(checked.nonzero()[0, 0])
        raise ValueError(
            f"rewards[{row}] is NaN (group {row // num_generations}); a reward function returned NaN. "
            "Return None for an unscorable completion instead, and build rewards with rewards_to_tensor."
        )


def _grouped_mean_std(rewards: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted mean and unbiased std along the last dim; weight is 1 for rows that count, 0 otherwise."""
    count = weight.sum(-1, keepdim=True)  # [..., 1]
    mean = (rewards * weight).sum(-1, keepdim=True) / count.clamp(min=1)  # [..., 1]
    sq_dev = ((rewards - mean) * weight) ** 2  # [..., G]
    # Bessel's correction; a group with fewer than 2 scorable rows gets std 0 (its advantages are 0 anyway).
    std = (sq_dev.sum(-1, keepdim=True) / (count - 1).clamp(min=1)).sqrt()  # [..., 1]
    return mean, std


def group_stats(rewards: Tensor, num_generations: int, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-group mean and unbiased std of ``rewards``, broadcast back to one value per completion.

    Args:
        rewards: ``[B*G]`` rewards, groups contiguous (rows ``g*G .. g*G+G-1``).
        num_generations: G, the group size.
        valid: optional ``[B*G]`` bool; rows that are False are left out of their group's statistics.

    Returns:
        ``(mean [B*G], std [B*G])``.

    >>> mean, std = group_stats(torch.tensor([1.0, 3.0, 2.0, 2.0]), num_generations=2)
    >>> mean.tolist(), [round(s, 4) for s in std.tolist()]
    ([2.0, 2.0, 2.0, 2.0], [1.4142, 1.4142, 0.0, 0.0])
    """
    _check_rewards(rewards, num_generations, valid)
    weight = torch.ones_like(rewards) if valid is None else valid.to(rewards.dtype)  # [B*G]
    clean = torch.where(weight > 0, rewards, torch.zeros_like(rewards))  # [B*G] NaN of skipped rows -> 0
    mean, std = _grouped_mean_std(clean.view(-1, num_generations), weight.view(-1, num_generations))  # [B, 1]
    mean = mean.expand(-1, num_generations).reshape(-1)  # [B*G]
    std = std.expand(-1, num_generations).reshape(-1)  # [B*G]
    return mean, std


def _batch_std(
    rewards: Tensor, weight: Tensor, sum_over_processes: Callable[[Tensor], Tensor] | None
) -> Tensor:
    """Unbiased std of the weighted rewards of the whole batch, over every process when ``sum_over_processes``."""
    if sum_over_processes is None:
        return _grouped_mean_std(rewards, weight)[1]  # [1]
    sums = sum_over_processes(torch.stack([weight.sum(), (rewards * weight).sum()]).double())  # [2]
    count, mean = sums[0], sums[1] / sums[0].clamp(min=1)
    sq_dev = sum_over_processes((((rewards.double() - mean) * weight) ** 2).sum())
    return (sq_dev / (count - 1).clamp(min=1)).sqrt().to(rewards.dtype).reshape(1)  # [1]


def compute_advantages(
    rewards: Tensor,
    num_generations: int,
    scale: str = "group",
    eps: float = 1e-4,
    valid: Tensor | None = None,
    sum_over_processes: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """Group-relative advantages ``A_i = (r_i - mean_group) / (std + eps)`` (GRPO) or ``r_i - mean_group`` (Dr. GRPO).

    Args:
        rewards: ``[B*G]`` total reward per completion, groups contiguous.
        num_generations: G, the group size (>= 2).
        scale: ``"group"`` (divide by the group std), ``"batch"`` (by the std of the whole batch) or ``"none"``.
        eps: added to the std so that equal rewards give 0, not NaN (TRL uses 1e-4).
        valid: optional ``[B*G]`` bool; False marks an unscorable completion (every reward function returned None):
            it is left out of the baseline and the std, and its advantage is 0.
        sum_over_processes: sums a tensor over processes (e.g. ``lambda t: accelerator.reduce(t, "sum")``), for
            ``scale="batch"`` with several processes: the batch std is then the whole batch's, as in TRL, which
            gathers every process's rewards. Groups never split across processes, so the other scales need nothing.

    Returns:
        ``[B*G]`` advantages, one per completion (every token of a completion shares it).

    Raises:
        ValueError: if ``rewards.numel()`` is not a multiple of ``num_generations``, ``num_generations < 2``, a
            (valid) reward is NaN, or ``scale`` is unknown.

    >>> compute_advantages(torch.tensor([1.0, 0.0, 0.0, 0.0]), num_generations=4, scale="none").tolist()
    [0.75, -0.25, -0.25, -0.25]
    >>> compute_advantages(torch.tensor([1.0, 1.0, 1.0, 1.0]), num_generations=4).tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    if scale not in SCALE_REWARDS:
        raise ValueError(f"scale must be one of {SCALE_REWARDS}, got {scale!r}")
    if not (eps >= 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a finite number >= 0, got {eps}")
    mean, std = group_stats(rewards, num_generations, valid)  # [B*G], [B*G]
    weight = torch.ones_like(rewards) if valid is None else valid.to(rewards.dtype)  # [B*G]
    clean = torch.where(weight > 0, rewards, torch.zeros_like(rewards))  # [B*G]
    advantages = clean - mean  # [B*G]
    if scale == "batch":
        batch_std = _batch_std(clean, weight, sum_over_processes)  # [1]
        advantages = advantages / (batch_std + eps)  # [B*G]
    elif scale == "group":
        advantages = advantages / (std + eps)  # [B*G]
    return advantages * weight  # [B*G] unscorable completions carry no signal


def zero_variance_groups(rewards: Tensor, num_generations: int, tol: float = 1e-6) -> Tensor:
    """Which groups have (almost) identical rewards, i.e. all-zero advantages and no learning signal.

    DAPO's dynamic sampling (arXiv:2503.14476, eq. 11) drops such groups; logging their share tells whether a run
    can learn at all (all wrong or all right means a zero gradient).

    Args:
        rewards: ``[B*G]`` rewards, groups contiguous.
        num_generations: G.
        tol: a group counts as zero-variance when ``max - min <= tol``.

    Returns:
        ``[B]`` bool, True for a zero-variance group.

    >>> zero_variance_groups(torch.tensor([1.0, 1.0, 0.0, 1.0]), num_generations=2).tolist()
    [True, False]
    """
    _check_rewards(rewards, num_generations)
    grouped = rewards.view(-1, num_generations)  # [B, G]
    spread = grouped.max(dim=1).values - grouped.min(dim=1).values  # [B]
    return spread <= tol  # [B]


def rewards_to_tensor(per_func: list[list[float | None]], weights: list[float]) -> tuple[Tensor, Tensor]:
    """Combine several reward functions into one reward per completion, skipping ``None`` like TRL.

    ``total_i = sum_f weight_f * r_fi`` over the functions f that scored completion i (``None`` = "does not apply",
    e.g. a countdown reward on a GSM8K row). A completion no function scored gets total 0; it is flagged by an
    all-NaN row of the returned matrix, ``valid = ~matrix.isnan().all(dim=1)``, to pass to ``compute_advantages``.

    The same None rule as ``rewards.combine`` (a reward function for TRL, in the torch-free ``rewards`` package),
    kept apart on purpose: here the sum is float32 ``nansum``, bit for bit TRL's, where ``combine`` sums Python
    floats (the two differ in the last float32 bit for most weights); all-None gives 0 and a flag, not ``None``;
    and a NaN raises here instead of counting as ``None``.

    Args:
        per_func: one list per reward function, each with one value (or None) per completion.
        weights: one weight per reward function.

    Returns:
        ``(total [N], per_func_matrix [N, F])``, float32, the matrix with NaN where a function returned None.

    >>> total, matrix = rewards_to_tensor([[1.0, None, None], [0.5, 0.5, None]], weights=[1.0, 2.0])
    >>> total.tolist()
    [2.0, 1.0, 0.0]
    >>> matrix.isnan().all(dim=1).tolist()
    [False, False, True]
    """
    if len(per_func) != len(weights):
        raise ValueError(
            f"got {len(per_func)} reward functions but {len(weights)} weights; give one weight each"
        )
    if not per_func:
        raise ValueError("per_func is empty: give at least one reward function")
    n = len(per_func[0])
    for f, values in enumerate(per_func):
        if len(values) != n:
            raise ValueError(
                f"reward function {f} gave {len(values)} values, function 0 gave {n}; need one each"
            )
        for i, v in enumerate(values):
            if v is not None and not math.isfinite(float(v)):
                raise ValueError(
                    f"reward function {f} gave {v} for completion {i}; return a finite number or None"
                )
    nan = float("nan")
    matrix = torch.tensor(
        [[nan if v is None else float(v) for v in values] for values in per_func], dtype=torch.float32
    ).T.reshape(n, len(per_func))  # [N, F]
    w = torch.tensor(weights, dtype=torch.float32)  # [F]
    total = (matrix * w).nansum(dim=1)  # [N] all-None rows sum to 0
    return total, matrix
