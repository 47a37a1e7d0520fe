"""Which prompts each process sees at each step: a pure function of (seed, step, rank), so resuming needs no state.

Groups never split across processes: a process samples all G completions of its own prompts, so group statistics
(and advantages) are local and need no communication.

A curriculum (``data.curriculum``) is a :class:`StagedSchedule`: easier tasks for a fixed number of steps each, in
order, then the task itself; the stage of a step is again a pure function of the step. Ordering training problems
from easy to hard is the curriculum learning of Bengio et al. (ICML 2009); here the stages are fixed by step count,
not by pass rate.

:func:`run_data` loads and checks a run's problems, prompt style and schedule (a :class:`RunData`) before the model is
loaded, so data errors come fast.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Generic, TypeVar

from minirl.config import DataConfig
from minirl.tasks import Example, PromptStyle, Task, check_not_held_out, get_task, training_examples

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


class StagedSchedule(Generic[T]):
    """:class:`PromptSchedule` s one after another: stage ``i`` serves ``steps[i]`` steps, the last one all the rest.

    >>> sched = StagedSchedule([PromptSchedule(["easy"], 1, 0), PromptSchedule(["hard"], 1, 0)], steps=[2])
    >>> [sched.batch(s)[0] for s in range(4)], sched.stage(1), sched.stage(2)
    (['easy', 'easy', 'hard', 'hard'], 0, 1)
    """

    def __init__(self, schedules: list[PromptSchedule[T]], steps: list[int]):
        if len(steps) != len(schedules) - 1:
            raise ValueError(
                f"{len(schedules)} schedules need {len(schedules) - 1} stage lengths, got {steps!r}"
            )
        self.schedules = schedules
        self.starts = [sum(steps[:i]) for i in range(len(schedules))]  # first step of each stage

    def stage(self, step: int) -> int:
        """The 0-based stage that serves ``step``."""
        return max(i for i, start in enumerate(self.starts) if step >= start)

    def batch(self, step: int, rank: int = 0, world: int = 1) -> list[T]:
        """Items for ``step`` (0-based) on process ``rank``: its stage's, counting steps from the stage's start."""
        i = self.stage(step)
        return self.schedules[i].batch(step - self.starts[i], rank, world)


def curriculum_schedule(
    stages: list[dict] | None,
    task_name: str,
    examples: list[Example],
    per_step: int,
    train_size: int | None,
    seed: int,
) -> PromptSchedule[Example] | StagedSchedule[Example]:
    """The training prompts of a run: ``examples`` (the task's) alone, or after the curriculum's ``stages``
    (``data.curriculum``: ``{steps, task_args}`` each, and ``task`` when it is not ``task_name``).

    >>> from minirl.tasks.arithmetic import ArithmeticTask
    >>> own = training_examples(ArithmeticTask(num_terms=4, max_digits=1), None, seed=0)
    >>> stages = [{"steps": 1, "task_args": {"num_terms": 2, "max_digits": 1}}]
    >>> sched = curriculum_schedule(stages, "arithmetic", own, per_step=1, train_size=None, seed=0)
    >>> [sched.batch(s)[0].question.count("+") for s in (0, 1)]
    [1, 3]
    """
    own = PromptSchedule(examples, per_step, seed)
    if not stages:
        return own
    schedules = []
    for st in stages:
        task = get_task(st.get("task") or task_name, **st["task_args"])
        schedules.append(PromptSchedule(training_examples(task, train_size, seed), per_step, seed))
    return StagedSchedule([*schedules, own], steps=[st["steps"] for st in stages])


@dataclass
class RunData:
    """A run's problems and prompts."""

    task: Task
    train_examples: list[Example]
    eval_examples: list[Example]  # held out: the task's test split, ``data.eval_size`` of them
    style: PromptStyle
    schedule: PromptSchedule[Example] | StagedSchedule[Example]  # the training prompts of each step


def run_data(data: DataConfig, per_step: int, seed: int, task: Task | None = None) -> RunData:
    """The run's task (``task``, else ``data.task``), its ``data.train_size`` training and ``data.eval_size`` held-out
    problems, the prompt style (a worked example that is a held-out problem is refused) and the schedule of
    ``per_step`` prompts a step (after ``data.curriculum``'s stages).

    >>> from minirl.config_parse import parse_args
    >>> d = run_data(parse_args(["--data.train_size", "8", "--data.eval_size", "2"]).data, per_step=4, seed=0)
    >>> len(d.train_examples), len(d.eval_examples), len(d.schedule.batch(0))
    (8, 2, 4)
    """
    task = task or get_task(data.task, **data.task_args)
    train = training_examples(task, data.train_size, seed)
    held_out = task.examples("test", n=data.eval_size, seed=seed) if data.eval_size else []
    style = PromptStyle.from_config(data)
    check_not_held_out(style, task)
    schedule = curriculum_schedule(data.curriculum, data.task, train, per_step, data.train_size, seed)
    return RunData(task, train, held_out, style, schedule)
