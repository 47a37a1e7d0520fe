"""Tasks: prompts, gold answers and default rewards.

A task yields :class:`Example` rows whose gold columns (``answer``; ``nums`` and ``target`` for countdown)
are the keyword lists TRL-style rewards receive; :func:`build_prompt` renders the R1-Zero prompt.

>>> task = get_task("arithmetic")
>>> ex = task.examples("train", n=2, seed=0)[0]
>>> ex.question.startswith("What is"), sorted(task.default_rewards)
(True, ['accuracy', 'format', 'tag_count'])
>>> task_names()
['arithmetic', 'countdown', 'gsm8k', 'mixture']
"""

from __future__ import annotations

from minirl.tasks.arithmetic import ArithmeticTask
from minirl.tasks.base import DataError, Example, ProceduralTask, Task, correctness, training_examples
from minirl.tasks.countdown import CountdownTask
from minirl.tasks.gsm8k import GSM8KTask
from minirl.tasks.mixture import MixtureTask
from minirl.tasks.registry import get_task, register, task_class, task_names
from minirl.tasks.templates import (
    R1_ZERO_TEMPLATE,
    PromptStyle,
    build_prompt,
    check_not_held_out,
    no_reasoning_suffix,
    render_completion,
    worked_examples,
)

__all__ = [
    "training_examples",
    "DataError",
    "R1_ZERO_TEMPLATE",
    "ArithmeticTask",
    "CountdownTask",
    "Example",
    "GSM8KTask",
    "MixtureTask",
    "ProceduralTask",
    "PromptStyle",
    "Task",
    "build_prompt",
    "check_not_held_out",
    "correctness",
    "get_task",
    "register",
    "no_reasoning_suffix",
    "render_completion",
    "task_class",
    "task_names",
    "worked_examples",
]
