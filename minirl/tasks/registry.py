"""The tasks by name: :func:`get_task` builds one from a config's ``data.task`` and ``data.task_args``.

A module of its own so that a task made of other tasks (:mod:`minirl.tasks.mixture`) can build its parts by name and
register itself (:func:`register`) without importing the package that imports it.
"""

from __future__ import annotations

import inspect
from typing import Any

from minirl.tasks.arithmetic import ArithmeticTask
from minirl.tasks.base import Task
from minirl.tasks.countdown import CountdownTask
from minirl.tasks.gsm8k import GSM8KTask

_TASKS: dict[str, type[Task]] = {
    "arithmetic": ArithmeticTask,
    "countdown": CountdownTask,
    "gsm8k": GSM8KTask,
}
# Setting names from configs that map onto constructor arguments (config docs say `{path: ...}` for gsm8k).
_ALIASES = {"gsm8k": {"path": "path_or_name"}}


def task_names() -> list[str]:
    """Names accepted by :func:`get_task`, sorted."""
    return sorted(_TASKS)


def task_class(name: str | None) -> type[Task]:
    """The task class called ``name``; for an unknown name (a record from elsewhere) the :class:`Task` defaults.

    Records (cold-start, rejection-sampled) carry only the task's name; this gives its ``accuracy_reward`` and
    ``gold_columns`` without building the task.

    >>> task_class("countdown").gold_columns, task_class(None).accuracy_reward
    (('nums', 'target'), 'accuracy')
    """
    return _TASKS.get(name, Task) if isinstance(name, str) else Task


def get_task(name: str, **settings: Any) -> Task:
    """Build the task called ``name`` with its settings (constructor keyword arguments).

    >>> get_task("countdown", num_numbers=4).num_numbers
    4
    """
    if name not in _TASKS:
        raise ValueError(f"Unknown task {name!r}: use one of {task_names()}.")
    cls = _TASKS[name]
    for alias, real in _ALIASES.get(name, {}).items():
        if alias in settings:
            if real in settings:
                raise ValueError(f"Task {name!r}: give {alias!r} or {real!r}, not both.")
            settings[real] = settings.pop(alias)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        raise ValueError(f"Task {name!r} has no setting(s) {unknown}; it accepts {accepted}.")
    return cls(**settings)


def register(name: str, cls: type[Task]) -> None:
    """Make ``cls`` the task :func:`get_task` builds for ``name`` (``minirl.tasks.mixture`` registers itself).

    >>> "mixture" in task_names()
    True
    """
    _TASKS[name] = cls
