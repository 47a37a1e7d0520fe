"""Checks of the config fields: bounds and choices shared by the sections' ``__post_init__``, the fields that hold
mappings (``data.worked_examples``, ``data.curriculum``, ``eval.transfer``), and :class:`ConfigError`, the error
every config check raises."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the field."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def _field(section: str, name: str) -> str:
    """``section.name``, or ``name`` alone for options without sections (``section=""``: a benchmark's)."""
    return f"{section}.{name}" if section else name


def at_least(section: str, values: Any, **bounds: float) -> None:
    """Check ``values.name >= bound`` for each ``name=bound``; the message names ``section.name`` (``name`` when
    ``section`` is empty) and the value.

    >>> from types import SimpleNamespace
    >>> at_least("run", SimpleNamespace(max_steps=0), max_steps=1)
    Traceback (most recent call last):
    minirl.config_checks.ConfigError: run.max_steps must be >= 1, got 0
    >>> at_least("", SimpleNamespace(steps=0), steps=1)
    Traceback (most recent call last):
    minirl.config_checks.ConfigError: steps must be >= 1, got 0
    """
    for name, bound in bounds.items():
        value = getattr(values, name)
        _check(value >= bound, f"{_field(section, name)} must be >= {bound}, got {value}")


def above(section: str, values: Any, **bounds: float) -> None:
    """Check ``values.name > bound`` for each ``name=bound``; the message names ``section.name`` and the value.

    >>> from types import SimpleNamespace
    >>> above("optim", SimpleNamespace(lr=0.0), lr=0)
    Traceback (most recent call last):
    minirl.config_checks.ConfigError: optim.lr must be > 0, got 0.0
    """
    for name, bound in bounds.items():
        value = getattr(values, name)
        _check(value > bound, f"{_field(section, name)} must be > {bound}, got {value}")


def one_of(section: str, values: Any, **choices: Collection[str]) -> None:
    """Check ``values.name in options`` for each ``name=options``; the message lists the options.

    >>> from types import SimpleNamespace
    >>> one_of("run", SimpleNamespace(backend="deepspeed"), backend=("minirl", "trl"))
    Traceback (most recent call last):
    minirl.config_checks.ConfigError: run.backend must be one of ('minirl', 'trl'), got 'deepspeed'
    """
    for name, options in choices.items():
        value = getattr(values, name)
        _check(value in options, f"{_field(section, name)} must be one of {options}, got '{value}'")


WORKED_EXAMPLE_KEYS = ("question", "reasoning", "answer")
"""The fields of one entry of ``data.worked_examples``."""


def check_worked_examples(examples: Any) -> list[dict[str, str]] | None:
    """``examples`` (``data.worked_examples``) checked: None, or a non-empty list of mappings with exactly the
    keys :data:`WORKED_EXAMPLE_KEYS`, each non-empty text.

    >>> check_worked_examples([{"question": "What is 1 + 2?", "reasoning": "1 + 2 = 3.", "answer": "3"}])[0]["answer"]
    '3'
    """
    if examples is None:
        return None
    ok = isinstance(examples, list) and examples
    _check(ok, f"data.worked_examples must be a non-empty list or null, got {examples!r}")
    keys = WORKED_EXAMPLE_KEYS
    for i, ex in enumerate(examples):
        ok = (
            isinstance(ex, dict)
            and set(ex) == set(keys)
            and all(isinstance(ex[k], str) and ex[k].strip() for k in keys)
        )
        _check(ok, f"data.worked_examples[{i}] must map each of {list(keys)} to non-empty text, got {ex!r}")
    return [dict(ex) for ex in examples]


def check_curriculum(stages: Any) -> list[dict] | None:
    """``stages`` (``data.curriculum``) checked: None, or a non-empty list of ``{steps, task_args}`` mappings (and
    optionally ``task``), ``steps`` a positive integer.

    >>> check_curriculum([{"steps": 6, "task_args": {"num_terms": 3}}])[0]["steps"]
    6
    """
    if stages is None:
        return None
    _check(
        isinstance(stages, list) and stages,
        f"data.curriculum must be a non-empty list or null, got {stages!r}",
    )
    out = []
    for i, st in enumerate(stages):
        ok = isinstance(st, dict) and {"steps", "task_args"} <= set(st) <= {"steps", "task", "task_args"}
        steps = st.get("steps") if ok else None
        ok = ok and isinstance(steps, int) and not isinstance(steps, bool) and steps > 0
        ok = ok and isinstance(st["task_args"], dict) and isinstance(st.get("task", ""), (str, type(None)))
        _check(
            ok,
            f"data.curriculum[{i}] must be {{steps: N > 0, task_args: {{...}}}} (task optional), got {st!r}",
        )
        out.append({**st, "task_args": dict(st["task_args"])})
    return out


TRANSFER_SIZE = 200
"""Problems of an ``eval.transfer`` task when its entry gives no ``size``."""


def check_transfer(transfer: dict[str, dict]) -> None:
    """``transfer`` (``eval.transfer``) checked: names of letters, digits, ``_``, ``-`` or ``.``, each mapped to
    ``{task, task_args?, size?}`` with ``size`` a positive integer and ``task_args`` a mapping.

    >>> check_transfer({"three_terms": {"task": "arithmetic", "task_args": {"num_terms": 3}, "size": 50}})
    """
    for name, spec in transfer.items():
        _check(
            isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_.-]+", name) is not None,
            f"eval.transfer: name {name!r} must be letters, digits, '_', '-' or '.'",
        )
        _check(
            isinstance(spec, dict) and "task" in spec and set(spec) <= {"task", "task_args", "size"},
            f"eval.transfer.{name} must be a mapping with 'task' and optionally 'task_args' and 'size', "
            f"got {spec!r}",
        )
        size = spec.get("size", TRANSFER_SIZE)
        _check(
            isinstance(size, int) and not isinstance(size, bool) and size > 0,
            f"eval.transfer.{name}.size must be a positive integer, got {size!r}",
        )
        _check(
            isinstance(spec.get("task_args", {}), dict),
            f"eval.transfer.{name}.task_args must be a mapping, got {spec.get('task_args')!r}",
        )
