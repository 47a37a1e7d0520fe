"""Countdown reward: reach ``target`` with each of ``nums`` exactly once and ``+ - * / ( )`` (TinyZero's task).

The answer (see ``extract_answer``) is parsed with ``ast`` in ``eval`` mode and walked by hand, never run:
only integer literals, the four binary operators and parentheses are accepted. Arithmetic is exact
(``Fraction``), so ``(6 / 4) * 4`` reaches 6 with no rounding; division by zero scores 0.0.

Bounds, checked before parsing: at most ``MAX_EXPR_CHARS`` characters from a whitelist (which excludes
``**`` and ``//``) and at most ``MAX_NODES`` syntax nodes. Literals must be the given numbers, so values stay
as small as the puzzle's.

Departure from TinyZero: unary ``+``/``-`` is refused (the numbers are used with binary operators only) and
there is no partial credit for a well-formed but wrong equation.
"""

from __future__ import annotations

import ast
import numbers
from collections import Counter
from fractions import Fraction
from typing import Any

from rewards._numbers import parse_number
from rewards._text import column, completion_texts, extract_answer, reasoning_flags

MAX_EXPR_CHARS = 256
MAX_NODES = 128
_ALLOWED_CHARS = frozenset("0123456789+-*/() \t\n")
_OPS = {ast.Add, ast.Sub, ast.Mult, ast.Div}


def _parse_expression(expr: str) -> ast.expr | None:
    """The syntax tree of a whitelisted arithmetic expression, or ``None``."""
    if not expr or len(expr) > MAX_EXPR_CHARS or not set(expr) <= _ALLOWED_CHARS:
        return None
    if "**" in expr or "//" in expr:
        return None
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # e.g. "1 +", "007", deep nesting
        return None
    nodes = list(ast.walk(tree.body))
    if len(nodes) > MAX_NODES:
        return None
    for node in nodes:
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _OPS:
                return None
        elif isinstance(node, ast.Constant):
            if type(node.value) is not int:
                return None
        elif not isinstance(node, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            return None  # unary operators, names, calls, ...
    return tree.body


def _evaluate(node: ast.expr) -> Fraction | None:
    """Exact value of a validated tree; ``None`` on division by zero."""
    if isinstance(node, ast.Constant):
        return Fraction(node.value)
    assert isinstance(node, ast.BinOp)  # guaranteed by _parse_expression
    left, right = _evaluate(node.left), _evaluate(node.right)
    if left is None or right is None:
        return None
    if isinstance(node.op, ast.Add):
        return left + right
    if isinstance(node.op, ast.Sub):
        return left - right
    if isinstance(node.op, ast.Mult):
        return left * right
    return None if right == 0 else left / right


def _gold_int(x: Any) -> int | None:
    """An integer from a gold cell (int, integral float, or numeric string), else ``None``."""
    if isinstance(x, bool):
        return None
    if isinstance(x, numbers.Integral):  # also numpy integers
        x = int(x)
    elif isinstance(x, numbers.Real):
        x = float(x)
        return int(x) if x.is_integer() and abs(x) < 1e15 else None
    value = parse_number(x) if isinstance(x, (str, int)) else None
    return int(value) if value is not None and value.denominator == 1 else None


def _score(text: str, nums: Any, target: Any, in_reasoning: bool = False) -> float | None:
    if hasattr(nums, "tolist"):  # a numpy row
        nums = nums.tolist()
    if not isinstance(nums, (list, tuple)) or not nums:
        return None
    given = [_gold_int(n) for n in nums]
    goal = _gold_int(target)
    if goal is None or any(n is None for n in given):
        return None
    answer = extract_answer(text, in_reasoning)
    tree = _parse_expression(answer) if answer is not None else None
    if tree is None:
        return 0.0
    literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    if Counter(literals) != Counter(given):
        return 0.0
    value = _evaluate(tree)
    return 1.0 if value is not None and value == goal else 0.0


def countdown_reward(
    completions: list, nums: Any = None, target: Any = None, prompts: Any = None, **kwargs: Any
) -> list[float | None]:
    """1.0 if the answer is an expression that uses each of ``nums`` exactly once and equals ``target``.

    Gold columns: ``nums`` (a list of integers per completion) and ``target`` (an integer). 0.0 for a wrong,
    malformed or dividing-by-zero answer; ``None`` when the gold row itself is unusable. The answer is read after the
    reasoning, as for ``accuracy_reward`` (``prompts`` ending with ``<think>`` open it).

    >>> countdown_reward(["<answer>(6 - 2) * 5</answer>", "<answer>6 * 5 - 2</answer>",
    ...                   "<answer>6 * 5</answer>", "<answer>6 ** 2 - 5 - 2</answer>"],
    ...                  nums=[[2, 5, 6]] * 4, target=[20] * 4)
    [1.0, 0.0, 0.0, 0.0]
    """
    texts = completion_texts(completions)
    nums_col = column(nums, len(texts), "nums", "countdown_reward")
    target_col = column(target, len(texts), "target", "countdown_reward")
    flags = reasoning_flags(prompts, len(texts), "countdown_reward")
    return [_score(text, n, t, f) for text, n, t, f in zip(texts, nums_col, target_col, flags)]
