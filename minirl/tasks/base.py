"""The task interface: problems (:class:`Example`) with gold columns, plus default rewards.

A task turns a data source (a file, the Hub, or a seeded generator) into :class:`Example` rows. Rewards
never see an ``Example``: they receive its gold columns as keyword lists named after the columns
(``answer``, ``nums``, ``target``...), exactly as TRL passes dataset columns to ``reward_funcs``.

Procedural tasks (:class:`ProceduralTask`) keep their splits apart in two ways:

1. **Disjoint problem sets.** Every problem has a canonical key; a SHA-256 hash of the key puts it in
   ``test`` (a ``TEST_FRACTION`` share of all problems) or ``train``, whatever the seed. A test problem
   can therefore never be drawn for training, even with a different seed or other sizes.
2. **Separate random streams.** Each split draws from its own generator, seeded with the task name, the
   task's ``seed``, the ``seed`` argument and the split name, so the same ``(split, n, seed)`` always gives
   the same list, and changing the split never replays the other split's stream.

The worked ``few_shot`` example is drawn from the train side, so it never leaks a test problem into prompts.
"""

from __future__ import annotations

import hashlib
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import rewards

SPLITS = ("train", "test")
_RESERVED_COLUMNS = frozenset({"answer", "completions", "prompts", "completion_ids"})


class DataError(ValueError):
    """A data file or row that cannot be used (missing path, broken JSON line, row without the gold field); the
    message names the file, the line and the field. The recipes print it as one line and exit with 2."""


@dataclass
class Example:
    """One problem: the question shown to the model and its gold columns.

    Attributes:
        question: the user-facing problem text.
        answer: the gold final answer as a string (``"72"``).
        extra: other gold columns, e.g. ``{"nums": [3, 5, 7], "target": 22}``; GSM8K keeps its full
            worked ``solution`` here. Rewards ignore columns they do not use.
        worked_reasoning: a short reference reasoning, set on a task's ``few_shot`` example (one-shot
            prompts) and on generated problems (SFT data); ``None`` when unknown. Not a gold column.
        worked_steps: the task's own solution as data, for tasks that compute one (arithmetic: its
            :class:`~minirl.tasks.arithmetic.Operation` steps in evaluation order); cold-start traces are
            rendered from it. ``None`` when unknown. Not a gold column.

    >>> Example("What is 3 + 5?", "8").reward_kwargs()
    {'answer': '8'}
    >>> Example("Make 22", "22", {"nums": [3, 5, 7], "target": 22}).reward_kwargs()
    {'answer': '22', 'nums': [3, 5, 7], 'target': 22}
    """

    question: str
    answer: str
    extra: dict[str, Any] = field(default_factory=dict)
    worked_reasoning: str | None = None
    worked_steps: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.question, str) or not self.question.strip():
            raise ValueError(f"Example.question must be a non-empty string, got {self.question!r}")
        if not isinstance(self.answer, str) or not self.answer.strip():
            raise ValueError(f"Example.answer must be a non-empty string, got {self.answer!r}")
        clash = _RESERVED_COLUMNS & set(self.extra)
        if clash:
            raise ValueError(
                f"Example.extra may not contain {sorted(clash)}: those keyword names are taken by the reward "
                "signature fn(completions, answer=..., ...). Rename the column."
            )

    def reward_kwargs(self) -> dict[str, Any]:
        """The gold columns rewards receive for this problem: ``{"answer": ..., **extra}``."""
        return {"answer": self.answer, **self.extra}


def correctness(reward_name: str, completions: Sequence[Any], **gold: Any) -> list[float | None]:
    """Whether each completion's answer is right: the one definition used by the training log's ``accuracy``,
    evaluation (pass@k, maj@k), the curation ``correct`` filter and rejection sampling.

    Right means the accuracy reward ``reward_name`` (a task's ``accuracy_reward``, from the ``rewards``
    registry) gives exactly 1.0. ``gold`` holds the reward's gold columns, one value per completion.

    Returns 1.0 or 0.0 per completion, ``None`` where the reward cannot judge (its gold columns are unusable).

    >>> correctness("accuracy", ["<answer>7</answer>", "<answer>8</answer>", "7"], answer=["7", "7", None])
    [1.0, 0.0, None]
    """
    return [
        None if v is None else float(v == 1.0) for v in rewards.get(reward_name)(list(completions), **gold)
    ]


def check_split(split: str) -> str:
    """Return ``split`` if it is ``"train"`` or ``"test"``, else raise a ``ValueError`` naming the choices.

    >>> check_split("test")
    'test'
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}: use one of {list(SPLITS)}.")
    return split


def check_n(n: int | None) -> int | None:
    """Return ``n`` if it is ``None`` or a positive int, else raise a ``ValueError``."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n <= 0):
        raise ValueError(f"n must be a positive integer or None (all problems), got {n!r}.")
    return n


class Task(ABC):
    """A source of problems with gold answers, a worked example and default rewards.

    Subclasses set ``name``, ``default_rewards`` (reward registry name -> weight, see ``rewards.names()``),
    ``few_shot`` (an :class:`Example` with ``worked_reasoning``) and implement :meth:`examples`.
    ``procedural`` says whether problems are generated (unbounded) rather than read from a file.
    """

    name: ClassVar[str]
    default_rewards: dict[str, float]
    few_shot: Example
    procedural: ClassVar[bool] = False
    accuracy_reward: ClassVar[str] = "accuracy"
    """Registry name of the reward that says whether an answer is right (see :func:`correctness`)."""
    gold_columns: ClassVar[tuple[str, ...]] = ("answer",)
    """The gold columns :attr:`accuracy_reward` reads."""

    @abstractmethod
    def examples(self, split: str, n: int | None = None, seed: int = 0) -> list[Example]:
        """Problems of ``split`` (``"train"`` or ``"test"``), deterministic for a given ``seed``.

        ``n=None`` returns the task's natural size for that split (the whole file for data sets).
        """

    def localize(self, example: Example, language: str) -> Example:
        """``example`` worded in the prompt ``language``; by default as the task wrote it (only the instruction and
        the question wrapper of :func:`~minirl.tasks.build_prompt` are translated then). Tasks with their own
        wording per language (arithmetic) override this."""
        return example

    def correct(self, completions: Sequence[Any], **gold: Any) -> list[float | None]:
        """:func:`correctness` under this task's accuracy reward; ``gold`` as the reward's keyword columns."""
        return correctness(self.accuracy_reward, completions, **gold)

    def answer_text(self, example: Example) -> str:
        """What an ideal completion puts inside ``<answer></answer>`` (the gold answer unless overridden)."""
        return example.answer

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _hash_fraction(key: str) -> float:
    """A stable number in [0, 1) for ``key`` (SHA-256, so independent of ``PYTHONHASHSEED``)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2.0**64


class ProceduralTask(Task):
    """A task whose problems come from a seeded generator; see the module docstring for how splits stay apart.

    Subclasses implement :meth:`sample` (one random problem) and :meth:`key` (its canonical identity).
    With ``n`` larger than the number of distinct problems of a split (tiny settings such as single-digit
    addition, 100 problems in all), every distinct problem appears once before any repeats.
    """

    procedural: ClassVar[bool] = True
    TEST_FRACTION: ClassVar[float] = 0.2
    """Share of all problems (by key hash) that belong to ``test``."""
    DEFAULT_SIZE: ClassVar[dict[str, int]] = {"train": 10_000, "test": 500}
    """Upper bound on ``n=None``: all distinct problems of the split, at most this many."""
    _MAX_MISSES: ClassVar[int] = 2_000
    """Consecutive draws that find no new problem before the split counts as exhausted."""

    seed: int

    @abstractmethod
    def sample(self, rng: random.Random) -> Example:
        """Draw one random problem (of either split) from ``rng``."""

    @abstractmethod
    def key(self, example: Example) -> str:
        """The canonical identity of a problem: equal keys are the same problem."""

    def split_of(self, example: Example) -> str:
        """``"test"`` or ``"train"``: the split a problem belongs to, fixed by the hash of its key."""
        return "test" if _hash_fraction(f"{self.name}:{self.key(example)}") < self.TEST_FRACTION else "train"

    def _rng(self, split: str, seed: int) -> random.Random:
        # A string seed is hashed with SHA-512 by `random`, so streams are stable across runs and machines.
        return random.Random(f"{self.name}/{self.seed}/{seed}/{split}")

    def examples(self, split: str, n: int | None = None, seed: int = 0) -> list[Example]:
        """``n`` problems of ``split`` (``n=None``: all distinct ones, at most ``DEFAULT_SIZE[split]``).

        Deterministic for a ``(split, n, seed)`` and the task's settings; test and train never share a problem.
        """
        check_split(split)
        check_n(n)
        want = n if n is not None else self.DEFAULT_SIZE[split]
        rng = self._rng(split, seed)
        unique: list[Example] = []
        seen: set[str] = set()
        misses = 0
        while len(unique) < want and misses < self._MAX_MISSES:
            ex = self.sample(rng)
            k = self.key(ex)
            if k in seen or self.split_of(ex) != split:
                misses += 1
                continue
            seen.add(k)
            unique.append(ex)
            misses = 0
        if not unique:
            raise ValueError(
                f"Task {self!r} produced no {split} problem in {self._MAX_MISSES} draws: its settings allow too "
                "few distinct problems. Widen them (more digits, numbers or operators)."
            )
        if n is None or len(unique) >= n:
            return unique
        # Fewer distinct problems than asked: repeat them in fresh shuffled rounds.
        out = list(unique)
        while len(out) < n:
            round_ = list(unique)
            rng.shuffle(round_)
            out.extend(round_[: n - len(out)])
        return out

    def _pick_few_shot(self) -> Example:
        """A fixed train-side problem for the one-shot prompt (its own stream, independent of ``seed``)."""
        rng = random.Random(f"{self.name}/few_shot")
        for _ in range(10_000):
            ex = self.sample(rng)
            if self.split_of(ex) == "train":
                return ex
        raise ValueError(f"Task {self!r} has no train problem for its worked example; widen its settings.")


PROCEDURAL_TRAIN_SIZE = 10_000
"""Training problems drawn from a generated task when ``data.train_size`` is not set (its supply is unbounded)."""


def training_examples(task: Task, train_size: int | None, seed: int) -> list[Example]:
    """A run's training problems: ``train_size`` of them, else :data:`PROCEDURAL_TRAIN_SIZE` for a generated task and
    the whole split for one read from a file.

    >>> from minirl.tasks.arithmetic import ArithmeticTask
    >>> len(training_examples(ArithmeticTask(max_digits=2), None, seed=0))
    10000
    """
    if train_size is None and getattr(task, "procedural", True):
        train_size = PROCEDURAL_TRAIN_SIZE
    return task.examples("train", n=train_size, seed=seed)
