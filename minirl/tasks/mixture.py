"""Mixture: several tasks (parts) in one run, each with a fixed share of every split.

Why: one task with a range of settings (arithmetic's ``min_terms``) draws *distinct* problems, so a setting with few
distinct problems (2-term single-digit sums: 100 in all) nearly vanishes from a deduplicated training set. A mixture
draws each part's share separately (a small part repeats its problems in shuffled rounds, as
:class:`~minirl.tasks.base.ProceduralTask` does), so the shares survive deduplication. A config says::

    data:
      task: mixture
      task_args:
        parts:
          - {task: arithmetic, task_args: {num_terms: 2, max_digits: 2}, weight: 1}
          - {task: arithmetic, task_args: {num_terms: 4, min_terms: 3, max_digits: 1}, weight: 2}

Rows of all parts are interleaved by a seeded shuffle, so any stretch of a training schedule sees the shares. The
parts must score alike (same gold columns, accuracy reward and default rewards); methods that read one problem
(:meth:`MixtureTask.answer_text`, :meth:`MixtureTask.localize`) delegate to the part that produced it, or to the
first part when the problem is not one the mixture produced.

No leakage: a training row that is a held-out problem of *any* part is dropped (and replaced by the part's next
one). For parts of one procedural family this never happens: a problem's split is a hash of the family's name and
the problem's key (:meth:`~minirl.tasks.base.ProceduralTask.split_of`), neither of which depends on the settings, so
two arithmetic parts agree on the split of every question they can both produce.

>>> mix = MixtureTask([
...     {"task": "arithmetic", "task_args": {"num_terms": 2, "max_digits": 2}, "weight": 1},
...     {"task": "arithmetic", "task_args": {"num_terms": 4, "min_terms": 3, "max_digits": 1}, "weight": 2},
... ])
>>> rows = mix.examples("train", n=9, seed=0)
>>> sorted(row.question.count("+") for row in rows)  # 3 two-term sums, 6 sums of 3-4 digits
[1, 1, 1, 2, 2, 2, 3, 3, 3]
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

from minirl.tasks.base import Example, ProceduralTask, Task, check_n, check_split
from minirl.tasks.registry import get_task, register, task_names

_PART_FIELDS = frozenset({"task", "task_args", "weight"})


def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split into whole counts proportional to ``weights`` that sum to ``total`` (largest-remainder
    rounding: every count is its exact share rounded down, then the largest remainders get one more, ties to the
    earlier part).

    >>> largest_remainder(10, [1, 2])
    [3, 7]
    >>> largest_remainder(2, [1, 1, 1])
    [1, 1, 0]
    """
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    counts = [int(e) for e in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _parse_part(i: int, part: Any) -> tuple[Task, float]:
    """Part ``i`` of a mixture's ``parts`` built: its task and weight; a one-line ``ValueError`` naming the field."""
    where = f"mixture: parts[{i}]"
    if not isinstance(part, dict) or "task" not in part or not set(part) <= _PART_FIELDS:
        raise ValueError(f"{where} must be a mapping {{task, task_args?, weight?}}, got {part!r}")
    name, args, weight = part["task"], part.get("task_args") or {}, part.get("weight", 1)
    if name == "mixture":
        raise ValueError(f"{where}.task may not be 'mixture': list the inner mixture's parts instead")
    if not isinstance(name, str):
        raise ValueError(f"{where}.task must be a task name, got {name!r}")
    if not isinstance(args, dict):
        raise ValueError(f"{where}.task_args must be a mapping, got {args!r}")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        raise ValueError(f"{where}.weight must be a number > 0, got {weight!r}")
    try:
        task = get_task(name, **args)
    except (TypeError, ValueError) as err:
        field = "task" if name not in task_names() else "task_args"
        raise ValueError(f"{where}.{field}: {' '.join(str(err).split())}") from None
    return task, float(weight)


def _scoring(task: Task) -> tuple[Any, ...]:
    """What must agree between parts: gold columns, accuracy reward, default rewards."""
    return task.gold_columns, task.accuracy_reward, task.default_rewards


class MixtureTask(Task):
    """Several tasks as one, each part with a fixed share (by ``weight``) of every split; see the module docstring.

    Args:
        parts: ``[{task, task_args, weight}, ...]``: a task name other than ``mixture``, its settings (default
            none) and its weight (a number > 0, default 1).

    Raises:
        ValueError: one line naming the part's index and field (empty ``parts``, unknown task, bad settings, a
            weight <= 0, a nested mixture), or the parts that score differently.
    """

    name = "mixture"

    def __init__(self, parts: list[dict]) -> None:
        if not isinstance(parts, list) or not parts:
            raise ValueError(
                f"mixture: parts must be a non-empty list of {{task, task_args, weight}}, got {parts!r}"
            )
        built = [_parse_part(i, part) for i, part in enumerate(parts)]
        self.parts: list[Task] = [task for task, _ in built]
        self.weights: list[float] = [weight for _, weight in built]
        first = self.parts[0]
        for i, task in enumerate(self.parts[1:], start=1):
            if _scoring(task) != _scoring(first):
                raise ValueError(
                    f"mixture: parts[0] ({first.name}) and parts[{i}] ({task.name}) score differently (gold "
                    f"columns, accuracy reward or default rewards): mix only tasks that are scored alike"
                )
        self.gold_columns = first.gold_columns
        self.accuracy_reward = first.accuracy_reward
        self.default_rewards = dict(first.default_rewards)
        self.procedural = all(task.procedural for task in self.parts)
        self._owner: dict[str, int] = {}  # question -> index of the part that produced it
        self._test_questions: dict[int, frozenset[str]] = {}  # per part, filled when first needed
        self.few_shot = self._pick_few_shot()

    def examples(self, split: str, n: int | None = None, seed: int = 0) -> list[Example]:
        """Problems of ``split`` from every part, interleaved by a shuffle seeded with ``seed`` and ``split``.

        ``n``: part ``i`` gives its share ``n * weight_i / sum(weights)``, rounded by :func:`largest_remainder` so
        the counts sum to ``n``. ``n=None``: every part's own full split (its ``examples(split)``), trimmed so that
        the shares follow the weights: the part with the fewest problems for its weight limits the total, and the
        other parts give only their share of it. A part whose split has fewer problems than its share (a data file)
        gives what it has. ``"test"`` rows come from each part's test split; ``"train"`` rows are never a held-out
        problem of any part. Deterministic for ``(split, n, seed)`` and the parts' settings.
        """
        check_split(split)
        check_n(n)
        if n is None:
            full = [task.examples(split, None, seed) for task in self.parts]
            total = min(int(len(rows) * sum(self.weights) / w) for rows, w in zip(full, self.weights))
            counts = largest_remainder(total, self.weights)
            drawn = [
                self._clean(i, split, rows[:c], seed, c) for i, (rows, c) in enumerate(zip(full, counts))
            ]
        else:
            counts = largest_remainder(n, self.weights)
            drawn = [self._clean(i, split, None, seed, c) for i, c in enumerate(counts)]
        tagged = [(i, ex) for i, rows in enumerate(drawn) for ex in rows]
        random.Random(f"mixture/{seed}/{split}").shuffle(tagged)
        for i, ex in tagged:
            self._owner.setdefault(ex.question, i)
        return [ex for _, ex in tagged]

    def _clean(self, i: int, split: str, rows: list[Example] | None, seed: int, count: int) -> list[Example]:
        """``count`` problems of part ``i``'s ``split`` (``rows`` when given): for ``train``, without any part's
        held-out problem, asking the part for more while some were dropped and its split still grows."""
        if count == 0:
            return []
        task, ask = self.parts[i], count
        rows = rows if rows is not None else task.examples(split, ask, seed)
        while True:
            kept = rows if split == "test" else [ex for ex in rows if not self.held_out(ex)]
            if len(kept) >= count or len(rows) < ask or ask >= 16 * count:
                return kept[:count]
            ask *= 2
            rows = task.examples(split, ask, seed)

    def held_out(self, example: Example) -> bool:
        """Whether ``example`` is a held-out (test) problem of any part.

        A procedural part judges by its :meth:`~minirl.tasks.base.ProceduralTask.split_of` (the hash of its key; a
        part whose key cannot read the example, another family's, is skipped), any other part by whether the
        question is in its test split. A procedural part of another family than the example's may call a few
        training problems held out (its hash of a question it never produces): they are dropped, never a held-out
        one kept.
        """
        for j, task in enumerate(self.parts):
            if isinstance(task, ProceduralTask):
                try:
                    if task.split_of(example) == "test":
                        return True
                except (KeyError, TypeError, ValueError):  # not a problem of this family (no key)
                    pass
                continue
            if j not in self._test_questions:
                self._test_questions[j] = frozenset(ex.question for ex in task.examples("test"))
            if example.question in self._test_questions[j]:
                return True
        return False

    def split_of(self, example: Example) -> str:
        """``"test"`` when ``example`` is a held-out problem of any part (:meth:`held_out`), else ``"train"``; read by
        :func:`~minirl.tasks.templates.check_not_held_out` for a config's worked examples."""
        return "test" if self.held_out(example) else "train"

    def _pick_few_shot(self) -> Example:
        """The first part's worked example that is no part's held-out problem, else the first such training
        problem (with a worked reasoning) of a part."""
        own = ((i, task.few_shot) for i, task in enumerate(self.parts))
        drawn = ((i, ex) for i, task in enumerate(self.parts) for ex in task.examples("train", 50, seed=0))
        for i, ex in itertools.chain(own, drawn):  # lazily: the parts' own worked examples usually do
            if ex.worked_reasoning and not self.held_out(ex):
                self._owner.setdefault(ex.question, i)
                return ex
        raise ValueError("mixture: every part's worked example is a held-out problem of another part")

    def part_of(self, example: Example) -> Task:
        """The part that produced ``example`` (the first part for a problem the mixture did not produce)."""
        return self.parts[self._owner.get(example.question, 0)]

    def localize(self, example: Example, language: str) -> Example:
        """``example`` worded in ``language`` by the part that produced it."""
        owner = self._owner.get(example.question, 0)
        out = self.parts[owner].localize(example, language)
        self._owner.setdefault(out.question, owner)
        return out

    def correct(self, completions: Sequence[Any], **gold: Any) -> list[float | None]:
        """The first part's :meth:`~minirl.tasks.base.Task.correct` (all parts share the accuracy reward; the gold
        columns do not say which part a problem came from)."""
        return self.parts[0].correct(completions, **gold)

    def answer_text(self, example: Example) -> str:
        """The ideal ``<answer>`` text, by the part that produced ``example``."""
        return self.part_of(example).answer_text(example)

    def __repr__(self) -> str:
        inner = ", ".join(f"{w:g} x {task!r}" for task, w in zip(self.parts, self.weights))
        return f"MixtureTask([{inner}])"


register("mixture", MixtureTask)
