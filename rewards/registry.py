"""Rewards by name, for recipes and YAML configs, and a weighted sum of several rewards.

``combine`` follows TRL's rule for ``None``: a reward that does not apply to a sample is skipped (TRL turns it
into NaN and sums with ``nansum``); a sample no reward applies to gets ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rewards.accuracy import accuracy_reward
from rewards.countdown import countdown_reward
from rewards.formatting import format_reward, tag_count_reward
from rewards.language import language_consistency_reward
from rewards.penalties import overlong_penalty, repetition_penalty

RewardFn = Callable[..., list]


class UnknownRewardError(KeyError):
    """``get`` of a name that is not registered; the message lists the available names."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0])


_REGISTRY: dict[str, RewardFn] = {}


def register(name: str, fn: RewardFn, *, overwrite: bool = False) -> RewardFn:
    """Make ``fn`` (TRL's signature: ``fn(completions, **kwargs) -> list[float | None]``) available as ``name``.

    Returns ``fn``, so it also works as ``register("mine", MyReward())`` inline. Re-registering a name needs
    ``overwrite=True``.

    >>> _ = register("always_one", lambda completions, **kw: [1.0] * len(completions), overwrite=True)
    >>> get("always_one")(["a", "b"])
    [1.0, 1.0]
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"reward name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"reward {name!r} must be callable, got {type(fn).__name__}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"reward {name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[name] = fn
    return fn


def get(name: str) -> RewardFn:
    """The reward registered as ``name``; raises ``UnknownRewardError`` (a ``KeyError``) listing the names.

    >>> get("format")(["<think>a</think><answer>1</answer>"])
    [1.0]
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownRewardError(f"unknown reward {name!r}; available: {', '.join(names())}") from None


def names() -> list[str]:
    """Registered reward names, sorted.

    >>> {"accuracy", "format", "countdown"} <= set(names())
    True
    """
    return sorted(_REGISTRY)


class CombinedReward:
    """Weighted sum of rewards with TRL's signature; ``None`` values are skipped, all-``None`` gives ``None``.

    A NaN from a reward is treated like ``None`` (that is what TRL turns ``None`` into).
    """

    def __init__(
        self, funcs: Sequence[RewardFn], weights: Sequence[float], name: str = "combined_reward"
    ) -> None:
        self.funcs = list(funcs)
        self.weights = [float(w) for w in weights]
        self.__name__ = name  # the name TRL logs under

    def __call__(self, completions: list, **kwargs: Any) -> list[float | None]:
        totals: list[float | None] = [None] * len(completions)
        for fn, weight in zip(self.funcs, self.weights):
            values = fn(completions, **kwargs)
            if len(values) != len(totals):
                name = getattr(fn, "__name__", type(fn).__name__)
                raise ValueError(
                    f"reward {name!r} returned {len(values)} values for {len(totals)} completions"
                )
            for i, value in enumerate(values):
                if value is None or math.isnan(value):
                    continue
                totals[i] = (totals[i] or 0.0) + weight * float(value)
        return totals

    def __repr__(self) -> str:
        parts = ", ".join(f"{getattr(f, '__name__', f)}: {w}" for f, w in zip(self.funcs, self.weights))
        return f"CombinedReward({{{parts}}})"


def combine(
    funcs_with_weights: Mapping[str | RewardFn, float] | Sequence[tuple[str | RewardFn, float]],
    name: str = "combined_reward",
) -> CombinedReward:
    """One reward that sums several with weights; each item is a registered name or a function.

    >>> reward = combine({"accuracy": 1.0, "format": 0.5})
    >>> reward(["<think>2+2</think><answer>4</answer>", "<answer>5</answer>"], answer=["4", "4"])
    [1.5, 0.0]
    >>> combine([(accuracy_reward, 1.0)])(["<answer>4</answer>"], answer=[None])
    [None]
    """
    items = funcs_with_weights.items() if isinstance(funcs_with_weights, Mapping) else funcs_with_weights
    funcs, weights = [], []
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(
                f"combine expects (reward, weight) pairs or a {{reward: weight}} mapping, got {item!r}"
            )
        fn, weight = item
        fn = get(fn) if isinstance(fn, str) else fn
        if not callable(fn):
            raise TypeError(f"combine: {fn!r} is neither a reward name nor callable")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise ValueError(
                f"combine: weight of {getattr(fn, '__name__', fn)!r} must be a finite number, got {weight!r}"
            )
        funcs.append(fn)
        weights.append(weight)
    if not funcs:
        raise ValueError("combine needs at least one (reward, weight) pair")
    return CombinedReward(funcs, weights, name)


for _name, _fn in {
    "accuracy": accuracy_reward,
    "format": format_reward,
    "tag_count": tag_count_reward,
    "countdown": countdown_reward,
    "language_consistency": language_consistency_reward,
    "overlong": overlong_penalty,
    "repetition": repetition_penalty,
}.items():
    register(_name, _fn)
