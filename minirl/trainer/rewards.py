"""Calling a set of weighted rule rewards on a rollout (TRL's reward-function signature).

Each reward is ``fn(completions, **kwargs) -> list[float | None]``; gold columns arrive as keyword lists (one entry per
completion, the example's value repeated G times), plus ``prompts`` and ``completion_ids``. The weighted sum skips
``None`` (not applicable) like TRL's nansum; per-reward mean/std are logged over the non-None values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import rewards as rewards_pkg

RewardFn = Callable[..., list]


def _stats(values: Sequence[float | None]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return float("nan"), float("nan")
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / len(vals)
    return mean, math.sqrt(var)


class RewardSet:
    """Named, weighted reward functions.

    Args:
        spec: ``{name: weight}`` with names from ``rewards.names()``, or ``[(name, fn, weight), ...]`` for your own
            functions.

    >>> rs = RewardSet({"format": 1.0})
    >>> rs.names
    ['format']
    """

    def __init__(self, spec: dict[str, float] | Sequence[tuple[str, RewardFn, float]]):
        self.names: list[str] = []
        self.funcs: list[RewardFn] = []
        self.weights: list[float] = []
        items = spec.items() if isinstance(spec, dict) else spec
        for item in items:
            if isinstance(spec, dict):
                name, weight = item
                try:
                    fn = rewards_pkg.get(name)
                except KeyError as err:
                    raise ValueError(f"grpo.rewards: {err.args[0] if err.args else err}") from None
            else:
                name, fn, weight = item
            if not isinstance(weight, (int, float)) or math.isnan(weight):
                raise ValueError(f"grpo.rewards: weight of '{name}' must be a number, got {weight!r}")
            self.names.append(name)
            self.funcs.append(fn)
            self.weights.append(float(weight))
        if not self.funcs:
            raise ValueError("grpo.rewards: at least one reward is needed")

    def score(self, completions: list[str], **kwargs) -> tuple[list[list[float | None]], dict[str, float]]:
        """Run every reward; returns the per-function values and ``rewards/<name>/{mean,std}`` metrics."""
        per_func: list[list[float | None]] = []
        metrics: dict[str, float] = {}
        for name, fn in zip(self.names, self.funcs):
            values = fn(completions, **kwargs)
            if len(values) != len(completions):
                raise ValueError(
                    f"Reward '{name}' returned {len(values)} values for {len(completions)} completions."
                )
            values = [None if v is None else float(v) for v in values]
            per_func.append(values)
            mean, std = _stats(values)
            metrics[f"rewards/{name}/mean"] = mean
            metrics[f"rewards/{name}/std"] = std
        return per_func, metrics
