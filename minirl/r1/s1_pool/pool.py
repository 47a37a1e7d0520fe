"""Pools: one trace per problem, its kind drawn by the shares of a :class:`PoolConfig`, seeded."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from minirl.r1.records import Trace, make_record
from minirl.r1.s1_pool.plans import PLANNERS
from minirl.r1.s1_pool.render import KINDS, STRATEGIES, perturb, render_trace

TASKS = tuple(PLANNERS)
"""Tasks the pools can be made for."""


@dataclass(frozen=True)
class PoolConfig:
    """Shares of each non-clean kind in an uncurated pool; the rest is clean.

    Counts are allocated by largest remainder (``round(share * n)`` with the total kept at ``n``), so the
    realised share of each kind is within ``1/n`` of its setting and exact when ``share * n`` is whole.

    >>> PoolConfig().clean
    0.25
    >>> PoolConfig(mixed_language=0.9, wrong_answer=0.2)
    Traceback (most recent call last):
    ...
    ValueError: PoolConfig: the shares sum to 1.45 > 1; lower some of them (the rest of the pool is clean).
    """

    mixed_language: float = 0.3
    """Reasoning that switches from English to Chinese, with a Russian sentence."""
    code_in_reasoning: float = 0.15
    """Reasoning that continues as Python code (fenced or bare lines)."""
    broken_tags: float = 0.1
    """A missing or doubled tag, an unclosed answer, or text after the answer."""
    wrong_answer: float = 0.1
    """Clean-looking reasoning that ends in a wrong answer."""
    repetition: float = 0.05
    """A sentence repeated in a row (a decoding loop), 8-14 times plus as many words as the reasoning has."""
    duplicate: float = 0.05
    """A copy of another record with whitespace and case changed (exact after normalization)."""
    mixed_traces_correct: bool = True
    """Mixed-language and code traces have the right answer and tags (so RL on correctness alone pays them);
    False gives them a wrong answer instead."""
    mixed_strategy: str = "same"
    """How mixed-language traces reason: ``"same"`` (the English steps, in other languages) or ``"counting"``
    (two-number additions count up from the larger addend one number at a time, in Chinese, when the smaller
    one is at most ``MAX_COUNT``; other problems keep ``"same"``). Counting is slower but mechanical, so a small
    model gets it right more often than a recalled sum: the mixed mode then *pays more* under a correctness reward
    for a reason the model can learn."""

    def __post_init__(self) -> None:
        if self.mixed_strategy not in STRATEGIES:
            raise ValueError(
                f"PoolConfig.mixed_strategy must be one of {STRATEGIES}, got {self.mixed_strategy!r}"
            )
        for name, share in self.shares().items():
            if not isinstance(share, (int, float)) or not 0 <= share <= 1:
                raise ValueError(f"PoolConfig.{name} must be a share in [0, 1], got {share!r}")
        total = sum(self.shares().values())
        if total > 1 + 1e-9:
            raise ValueError(
                f"PoolConfig: the shares sum to {total:.3g} > 1; lower some of them (the rest of the pool is clean)."
            )

    def shares(self) -> dict[str, float]:
        """The share of each non-clean kind, in ``KINDS`` order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in KINDS}

    @property
    def clean(self) -> float:
        """The share of clean traces: one minus the other shares."""
        return round(1.0 - sum(self.shares().values()), 12)


CLEAN_ONLY = PoolConfig(**dict.fromkeys(KINDS[1:], 0.0))
"""A pool of clean traces only (the curated cold-start data of R1)."""


def allocate(n: int, config: PoolConfig) -> dict[str, int]:
    """How many records of each kind a pool of ``n`` gets (largest remainder; ties go to the earlier kind).

    >>> allocate(20, PoolConfig())
    {'clean': 5, 'mixed_language': 6, 'code_in_reasoning': 3, 'broken_tags': 2, 'wrong_answer': 2, 'repetition': 1, 'duplicate': 1}
    >>> sum(allocate(7, PoolConfig()).values())
    7
    """
    if n < 0:
        raise ValueError(f"allocate: n must be >= 0, got {n}")
    shares = {"clean": config.clean, **config.shares()}
    exact = {kind: share * n for kind, share in shares.items()}
    counts = {kind: int(value + 1e-9) for kind, value in exact.items()}
    left = n - sum(counts.values())
    order = sorted(shares, key=lambda k: (-(exact[k] - counts[k]), KINDS.index(k)))
    for kind in order[:left]:
        counts[kind] += 1
    return counts


def _task_name(task: Any) -> str:
    name = task if isinstance(task, str) else getattr(task, "name", None)
    if name not in PLANNERS:
        raise ValueError(f"s1_pool: no cold-start traces for task {name!r}; supported: {', '.join(TASKS)}")
    return name


def make_pool(
    task: Any, examples: Sequence[Any], config: PoolConfig | None = None, seed: int = 0
) -> list[Trace]:
    """One record per example, kinds allocated by ``config`` (default :class:`PoolConfig`) and shuffled.

    Args:
        task: a ``minirl.tasks.Task`` or its name (``arithmetic``, ``countdown``, ``gsm8k``).
        examples: the task's examples (``task.examples(split, n, seed)``); each gives one record.
        config: the shares of each kind; :data:`CLEAN_ONLY` for clean traces only.
        seed: the whole pool is a function of ``(examples, config, seed)``.

    Returns:
        Records ``{"task", "prompt_question", "answer", <gold kwargs>, "extra", "kind", "completion"}``.
        A ``duplicate`` record copies another record's problem and completion (its own example is unused).
    """
    name = _task_name(task)
    config = config or PoolConfig()
    if not examples:
        raise ValueError("make_pool: no examples given")
    counts = allocate(len(examples), config)
    kinds = [kind for kind in KINDS for _ in range(counts[kind])]
    random.Random(seed).shuffle(kinds)
    records: list[Trace | None] = [None] * len(examples)
    for i, (example, kind) in enumerate(zip(examples, kinds)):
        if kind == "duplicate":
            continue
        rng = random.Random(seed * 1_000_003 + i)
        try:
            plan = PLANNERS[name](example, rng)
        except ValueError as err:
            raise ValueError(f"make_pool: example #{i}: {err}") from None
        records[i] = make_record(
            name,
            example,
            kind,
            render_trace(kind, example, plan, rng, config.mixed_traces_correct, config.mixed_strategy),
        )
    # A duplicate copies a clean record placed before it when there is one, so that the copy, not the original,
    # is what near-duplicate filtering drops.
    clean_at = [i for i, r in enumerate(records) if r is not None and r["kind"] == "clean"]
    others = [r for r in records if r is not None]
    rng = random.Random(seed * 1_000_003 - 1)
    for i, kind in enumerate(kinds):
        if kind != "duplicate":
            continue
        before = [records[j] for j in clean_at if j < i]
        candidates = before or [records[j] for j in clean_at] or others
        if not candidates:
            raise ValueError("make_pool: a pool of duplicates only has nothing to copy; lower `duplicate`")
        source = rng.choice(candidates)
        records[i] = {
            **source,
            "extra": dict(source["extra"]),
            "kind": "duplicate",
            "completion": perturb(source["completion"], rng),
        }
    return [r for r in records if r is not None]


def make_clean(task: Any, examples: Sequence[Any], seed: int = 0) -> list[Trace]:
    """Clean traces only: English reasoning, right answer, good tags (``make_pool`` with :data:`CLEAN_ONLY`)."""
    return make_pool(task, examples, CLEAN_ONLY, seed)
