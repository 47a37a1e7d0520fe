"""Countdown (TinyZero's task): reach a target with each given number exactly once and ``+ - * /``.

Generation builds the reference expression first, then takes its value as the target, so every problem
is solvable by construction: draw ``num_numbers`` integers in ``[1, max_number]``, shuffle them, then
repeatedly combine two random sub-expressions with a random operator from ``ops`` until one expression
is left. As in the original game every intermediate result must be a positive integer (``/`` only when
it divides exactly), and the target must lie in ``[1, max_target]``; other draws are rejected.
Arithmetic is on Python ints, so it is exact.

The question always offers all four operators (TinyZero's wording, and ``rewards.countdown_reward``
accepts all four); ``ops`` only shapes how targets are generated. The gold columns are ``nums``,
``target`` and ``answer`` (the target as a string); ``solution`` holds the reference expression. A
problem's identity is its sorted numbers and target, so the same puzzle with its numbers reordered
cannot appear in both splits (see :mod:`minirl.tasks.base`).
"""

from __future__ import annotations

import random

from minirl.tasks.base import Example, ProceduralTask

COUNTDOWN_OPS = "+-*/"
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_MAX_TRIES = 10_000


def join_expressions(left: str, left_op: str | None, op: str, right: str, right_op: str | None) -> str:
    """``left op right`` with minimal parentheses; ``left_op``/``right_op`` are the operands' top-level operators
    (``None`` for a bare number).

    An operand is parenthesized when its operator binds less tightly than ``op``, and a right operand of equal
    precedence also under ``-`` or ``/`` (``a - (b + c) != a - b + c``). The countdown task writes its reference
    solutions and :mod:`minirl.r1.s1_pool` its search traces with it.

    >>> join_expressions("2 + 3", "+", "*", "4", None), join_expressions("9", None, "-", "2 - 3", "-")
    ('(2 + 3) * 4', '9 - (2 - 3)')
    >>> join_expressions("8 - 2", "-", "+", "2 * 3", "*")
    '8 - 2 + 2 * 3'
    """

    def wrapped(text: str, child: str | None, right_side: bool) -> str:
        if child is None:
            return text
        weaker = PRECEDENCE[child] < PRECEDENCE[op]
        grouped = right_side and PRECEDENCE[child] == PRECEDENCE[op] and op in "-/"
        return f"({text})" if weaker or grouped else text

    return f"{wrapped(left, left_op, False)} {op} {wrapped(right, right_op, True)}"


class CountdownTask(ProceduralTask):
    """Seeded Countdown puzzles: ``nums``, a reachable ``target`` and a reference ``solution``.

    Args:
        num_numbers: how many numbers per puzzle (2 to 6).
        max_number: numbers are drawn from ``[1, max_number]`` (at least 2).
        ops: operators used to build targets, some of ``+-*/``.
        max_target: targets lie in ``[1, max_target]``.
        seed: task seed, mixed with the ``seed`` of :meth:`examples`.

    >>> ex = CountdownTask().examples("train", n=1)[0]
    >>> sorted(ex.reward_kwargs())
    ['answer', 'nums', 'solution', 'target']
    >>> ex.answer == str(ex.extra["target"])
    True
    """

    name = "countdown"
    accuracy_reward = "countdown"
    gold_columns = ("nums", "target")

    def __init__(
        self,
        num_numbers: int = 3,
        max_number: int = 20,
        ops: str = "+-*",
        max_target: int = 100,
        seed: int = 0,
    ) -> None:
        for label, value, low, high in (
            ("num_numbers", num_numbers, 2, 6),
            ("max_number", max_number, 2, 10_000),
            ("max_target", max_target, 1, 10**9),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"countdown: {label} must be an integer in [{low}, {high}], got {value!r}")
        if not isinstance(ops, str) or not ops or not set(ops) <= set(COUNTDOWN_OPS):
            raise ValueError(f"countdown: ops must be a non-empty string of {COUNTDOWN_OPS!r}, got {ops!r}")
        self.num_numbers, self.max_number = num_numbers, max_number
        self.max_target, self.seed = max_target, seed
        self.ops = "".join(sorted(set(ops), key=COUNTDOWN_OPS.index))
        self.default_rewards = {"countdown": 1.0, "format": 1.0, "tag_count": 0.5}
        self.few_shot = self._pick_few_shot()

    def _try_build(self, rng: random.Random) -> Example | None:
        """One attempt: a random expression over random numbers, or ``None`` if a rule is broken."""
        nums = [rng.randint(1, self.max_number) for _ in range(self.num_numbers)]
        # Each item: (expression text, value, its top-level operator; None for a bare number).
        items: list[tuple[str, int, str | None]] = [(str(v), v, None) for v in nums]
        rng.shuffle(items)
        steps = []
        while len(items) > 1:
            i = rng.randrange(len(items))
            j = rng.randrange(len(items) - 1)
            j += j >= i  # two distinct positions
            (a_text, a, a_op), (b_text, b, b_op) = items[i], items[j]
            op = rng.choice(self.ops)
            if op == "+":
                value = a + b
            elif op == "-":
                value = a - b
            elif op == "*":
                value = a * b
            else:
                if a % b:  # b >= 1 always, since intermediate values stay positive
                    return None
                value = a // b
            if value <= 0:
                return None
            steps.append(f"{a} {op} {b} = {value}.")
            items = [it for k, it in enumerate(items) if k not in (i, j)]
            items.append((join_expressions(a_text, a_op, op, b_text, b_op), value, op))
        solution, target, _ = items[0]
        if target > self.max_target:
            return None
        question = (
            f"Using the numbers {nums}, create an equation that equals {target}. "
            "You can use basic arithmetic operations (+, -, *, /) and each number exactly once."
        )
        return Example(
            question,
            str(target),
            {"nums": nums, "target": target, "solution": solution},
            worked_reasoning=f"{' '.join(steps)} So {solution} = {target}.",
        )

    def sample(self, rng: random.Random) -> Example:
        """One random solvable puzzle (retries until the generation rules hold)."""
        for _ in range(_MAX_TRIES):
            ex = self._try_build(rng)
            if ex is not None:
                return ex
        raise ValueError(
            f"{self!r}: no puzzle met the rules (positive integer steps, target <= {self.max_target}) in "
            f"{_MAX_TRIES} tries. Raise max_target or max_number, or allow more operators."
        )

    def key(self, example: Example) -> str:
        """Sorted numbers and target: reordering the numbers gives the same puzzle."""
        return f"{sorted(example.extra['nums'])}->{example.extra['target']}"

    def answer_text(self, example: Example) -> str:
        """The reference expression: ``countdown_reward`` scores the equation, not the bare target."""
        return example.extra["solution"]

    def __repr__(self) -> str:
        return (
            f"CountdownTask(num_numbers={self.num_numbers}, max_number={self.max_number}, ops={self.ops!r}, "
            f"max_target={self.max_target}, seed={self.seed})"
        )
