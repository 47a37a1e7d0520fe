"""Arithmetic: seeded "What is 3 + 5?" problems, the smallest task on which GRPO visibly learns.

Single-digit addition (the default) is the reference task the docs compare against TRL: a 135M model
can solve it, so a run shows format and accuracy rising within minutes on a CPU. Difficulty grows with
``max_digits`` (operand size), ``num_terms`` and ``ops`` (any of ``+ - *``; ``*`` binds tighter, as usual).
Operands are uniform in ``[0, 10**max_digits - 1]``; results may be negative when ``-`` is allowed.
Splits are disjoint by construction (see :mod:`minirl.tasks.base`); a problem's identity is its exact
question, so ``3 + 5`` and ``5 + 3`` are distinct problems.
"""

from __future__ import annotations

import random

from minirl.tasks.base import Example, ProceduralTask

ARITHMETIC_OPS = "+-*"


def evaluate_terms(terms: list[int], operators: list[str]) -> tuple[int, list[str]]:
    """Exact value of ``terms[0] op terms[1] op ...`` with ``*`` first, and the steps as sentences.

    >>> evaluate_terms([5, 3, 4, 2], ["+", "*", "-"])
    (15, ['3 * 4 = 12.', '5 + 12 = 17.', '17 - 2 = 15.'])
    """
    if len(operators) != len(terms) - 1:
        raise ValueError(f"need {len(terms) - 1} operators for {len(terms)} terms, got {operators!r}")
    steps: list[str] = []
    # First fold every run of '*' into one value, then add and subtract left to right.
    values, signs = [terms[0]], []
    for op, term in zip(operators, terms[1:]):
        if op == "*":
            steps.append(f"{values[-1]} * {term} = {values[-1] * term}.")
            values[-1] *= term
        elif op in "+-":
            signs.append(op)
            values.append(term)
        else:
            raise ValueError(f"unknown operator {op!r}: use one of {list(ARITHMETIC_OPS)}")
    total = values[0]
    for op, value in zip(signs, values[1:]):
        new = total + value if op == "+" else total - value
        steps.append(f"{total} {op} {value} = {new}.")
        total = new
    return total, steps


class ArithmeticTask(ProceduralTask):
    """Seeded arithmetic problems such as ``"What is 3 + 5?"`` with gold ``answer`` ``"8"``.

    Args:
        num_terms: numbers per problem (2 to 10).
        max_digits: digits per number at most (1 to 9).
        ops: the operators to draw from, a string of some of ``+-*``.
        seed: task seed, mixed with the ``seed`` of :meth:`examples`.

    >>> task = ArithmeticTask()
    >>> ex = task.examples("test", n=1)[0]
    >>> ex.question.startswith("What is ") and int(ex.answer) >= 0
    True
    """

    name = "arithmetic"

    def __init__(self, num_terms: int = 2, max_digits: int = 1, ops: str = "+", seed: int = 0) -> None:
        if isinstance(num_terms, bool) or not isinstance(num_terms, int) or not 2 <= num_terms <= 10:
            raise ValueError(f"arithmetic: num_terms must be an integer in [2, 10], got {num_terms!r}")
        if isinstance(max_digits, bool) or not isinstance(max_digits, int) or not 1 <= max_digits <= 9:
            raise ValueError(f"arithmetic: max_digits must be an integer in [1, 9], got {max_digits!r}")
        if not isinstance(ops, str) or not ops or not set(ops) <= set(ARITHMETIC_OPS):
            raise ValueError(f"arithmetic: ops must be a non-empty string of {ARITHMETIC_OPS!r}, got {ops!r}")
        self.num_terms, self.max_digits, self.seed = num_terms, max_digits, seed
        self.ops = "".join(sorted(set(ops), key=ARITHMETIC_OPS.index))  # canonical, so "+-" == "-+"
        self.default_rewards = {"accuracy": 1.0, "format": 1.0, "tag_count": 0.5}
        self.few_shot = self._pick_few_shot()

    def sample(self, rng: random.Random) -> Example:
        """One random problem, with its step-by-step ``worked_reasoning``."""
        top = 10**self.max_digits - 1
        terms = [rng.randint(0, top) for _ in range(self.num_terms)]
        operators = [rng.choice(self.ops) for _ in range(self.num_terms - 1)]
        value, steps = evaluate_terms(terms, operators)
        expr = " ".join([str(terms[0])] + [f"{op} {t}" for op, t in zip(operators, terms[1:])])
        return Example(f"What is {expr}?", str(value), worked_reasoning=" ".join(steps))

    def key(self, example: Example) -> str:
        """The question itself."""
        return example.question

    def __repr__(self) -> str:
        return (
            f"ArithmeticTask(num_terms={self.num_terms}, max_digits={self.max_digits}, "
            f"ops={self.ops!r}, seed={self.seed})"
        )
