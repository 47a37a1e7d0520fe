"""Which prompts each process sees at each step: a pure function of (seed, step, rank), so resuming needs no state.

Groups never split across processes: a process samples all G completions of its own prompts, so group statistics
(and advantages) are local and need no communication.
"""

from __future__ import annotations

import random
from typing import Generic, TypeVar

T = TypeVar("T")


class PromptSchedule(Generic[T]):
    """Epoch-shuffled order over ``items``; step ``s`` on rank ``r`` of ``w`` gets ``k`` consecutive items.

    >>> sched = PromptSchedule(list(range(10)), per_step=2, seed=0)
    >>> sched.batch(0) == sched.batch(0)   # deterministic
    True
    >>> len(set(sched.batch(0, rank=0, world=2)) & set(sched.batch(0, rank=1, world=2)))
    0
    """

    def __init__(self, items: list[T], per_step: int, seed: int):
        if not items:
            raise ValueError(
                "The training split is empty: check data.task / data.task_args / data.train_size."
            )
        self.items = items
        self.per_step = per_step
        self.seed = seed
        self._orders: dict[int, list[int]] = {}

    def _order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            order = list(range(len(self.items)))
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
            self._orders = {epoch: order}  # keep one epoch in memory
        return self._orders[epoch]

    def batch(self, step: int, rank: int = 0, world: int = 1) -> list[T]:
        """Items for ``step`` (0-based) on process ``rank``."""
        out = []
        start = (step * world + rank) * self.per_step
        for pos in range(start, start + self.per_step):
            epoch, idx = divmod(pos, len(self.items))
            out.append(self.items[self._order(epoch)[idx]])
        return out
