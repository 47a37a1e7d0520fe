"""Checks of the config fields that hold lists of mappings (``data.worked_examples``, ``data.curriculum``), and
:class:`ConfigError`, the error every config check raises (re-exported by :mod:`minirl.config`)."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the field."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


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
