"""Solution plans: one per problem, from the task's own solution; every kind of trace is rendered from it.

- arithmetic: the operations the task computed (``Example.worked_steps``, :func:`minirl.tasks.arithmetic.operations`);
- countdown: a seeded search over the ways to combine the numbers (the puzzle gives no steps), a few failed tries
  and then one that reaches the target;
- GSM8K: the dataset's reference solution (``extra["solution"]``) without its ``<<...>>`` calculator notes.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from minirl.r1.s1_pool.phrases import Step
from minirl.tasks.countdown import join_expressions
from rewards import format_number, parse_gold, parse_number


@dataclass
class Plan:
    """A problem's worked solution, from which every kind of trace is rendered.

    ``steps`` ends with the step that states the answer; ``wrong_steps`` is the same reasoning ending in
    ``wrong_answer``; ``code`` computes the answer in Python (it is only ever shown, never run); ``counting``
    reaches the same answer by counting up (two-number additions only, else ``None``).
    """

    steps: list[Step]
    answer: str
    wrong_steps: list[Step]
    wrong_answer: str
    code: list[str]
    counting: list[Step] | None = None


_GSM8K_CALC = re.compile(r"<<([^<>=]*)=([^<>]*)>>")


def _wrong_value(value: Fraction, rng: random.Random) -> Fraction:
    """A nearby wrong value (an arithmetic slip)."""
    delta = rng.choice([d for d in range(-10, 11) if d])
    return value + delta


def arithmetic_plan(example: Any, rng: random.Random) -> Plan:
    """Step-by-step evaluation of the problem, from the operations its task computed (``example.worked_steps``,
    see :func:`minirl.tasks.arithmetic.operations`); the question text is not read.
    """
    ops = getattr(example, "worked_steps", None)
    if not ops:
        raise ValueError(
            f"s1_pool: arithmetic example {str(example.question)[:60]!r} has no worked_steps; make it with "
            "ArithmeticTask (task.examples(...) or task.example(terms, operators))."
        )
    gold_text = parse_gold(example.answer)
    gold = parse_number(gold_text) if gold_text is not None else None
    value = Fraction(ops[-1].value)
    if gold is None or value != gold:
        raise ValueError(
            f"s1_pool: the worked steps of question {example.question!r} end at {format_number(value)}, "
            f"but the gold answer is {example.answer!r}; check the task's answers."
        )
    answer, wrong = gold_text, format_number(_wrong_value(value, rng))
    steps: list[Step] = [("start", {})]
    code: list[str] = []
    for i, op in enumerate(ops):
        steps.append(
            (
                "first_op" if i == 0 else "next_op",
                {"a": str(op.a), "op": op.op, "b": str(op.b), "c": str(op.value)},
            )
        )
        left = f"step_{op.a_step}" if op.a_step else str(op.a)
        right = f"step_{op.b_step}" if op.b_step else str(op.b)
        code.append(f"step_{i + 1} = {left} {op.op} {right}")
    # The wrong trace slips on the last operation.
    wrong_steps = [*steps[:-1], (steps[-1][0], {**steps[-1][1], "c": wrong})]
    steps += [("check", {"c": answer}), ("final", {"c": answer})]
    wrong_steps += [("check", {"c": wrong}), ("final", {"c": wrong})]
    code.append(f"print(step_{len(ops)})  # {answer}")
    return Plan(steps, answer, wrong_steps, wrong, code, _counting_steps(ops, answer))


MAX_COUNT = 9
"""Counting traces count up at most this many times (a longer count would be a loop, not a strategy)."""


def _counting_steps(ops: Sequence[Any], answer: str) -> list[Step] | None:
    """Count up from the larger addend, ``9 (1), 10 (2), ...``, the counter in brackets; ``None`` unless the
    problem is one addition of non-negative integers whose smaller addend is at most :data:`MAX_COUNT`."""
    if len(ops) != 1 or ops[0].op != "+" or ops[0].a < 0 or ops[0].b < 0:
        return None
    big, small = sorted((ops[0].a, ops[0].b), reverse=True)
    if small > MAX_COUNT:
        return None
    if small == 0:
        middle: list[Step] = [("count_zero", {"big": big})]
    else:
        seq = ", ".join(f"{big + k} ({k})" for k in range(1, small + 1))
        middle = [("count_intro", {"big": big, "small": small}), ("count", {"seq": seq})]
    return [("start", {}), *middle, ("count_check", {"c": answer}), ("final", {"c": answer})]


# Countdown: search the ways to combine the numbers (each used once), keeping a few failures for the narrative.


@dataclass(frozen=True)
class _Term:
    value: Fraction
    text: str
    op: str | None = None  # top-level operator; None for a number


def _combine(x: _Term, y: _Term, op: str, game_rules: bool = False) -> _Term | None:
    """``x op y`` as a term; ``None`` on division by zero, or under the game's rules (positive integer
    intermediate results, as the countdown task generates them) when the result breaks them."""
    if op == "/" and y.value == 0:
        return None
    value = {"+": x.value + y.value, "-": x.value - y.value, "*": x.value * y.value}.get(op)
    if value is None:
        value = x.value / y.value
    if game_rules and (value <= 0 or value.denominator != 1):
        return None
    return _Term(value, join_expressions(x.text, x.op, op, y.text, y.op), op)


class _Search:
    """Depth-first search over pairwise combinations in a seeded random order."""

    def __init__(self, target: int, rng: random.Random, game_rules: bool, max_nodes: int = 200_000):
        self.target = Fraction(target)
        self.rng = rng
        self.game_rules = game_rules
        self.nodes = 0
        self.max_nodes = max_nodes
        self.failures: list[_Term] = []

    def run(self, terms: list[_Term]) -> _Term | None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            return None
        if len(terms) == 1:
            if terms[0].value == self.target:
                return terms[0]
            if len(self.failures) < 2:
                self.failures.append(terms[0])
            return None
        moves = [(i, j, op) for i in range(len(terms)) for j in range(len(terms)) if i != j for op in "+-*/"]
        self.rng.shuffle(moves)
        for i, j, op in moves:
            if op in "+*" and i > j:  # commutative: one order is enough
                continue
            term = _combine(terms[i], terms[j], op, self.game_rules)
            if term is None:
                continue
            rest = [t for k, t in enumerate(terms) if k not in (i, j)]
            found = self.run([*rest, term])
            if found is not None:
                return found
        return None


def _plain_combination(nums: list[int], target: Fraction) -> _Term | None:
    """A simple expression that uses every number but misses the target (for wrong answers)."""
    for op in "+*-":
        term = _Term(Fraction(nums[0]), str(nums[0]))
        for n in nums[1:]:
            term = _combine(term, _Term(Fraction(n), str(n)), op)
        if term is not None and term.value != target:
            return term
    return None


def countdown_plan(example: Any, rng: random.Random) -> Plan:
    """A search narrative: up to two failed combinations, then one that reaches the target."""
    gold = example.reward_kwargs()
    nums, target = gold.get("nums"), gold.get("target")
    if not isinstance(nums, (list, tuple)) or not nums or not all(isinstance(n, int) for n in nums):
        raise ValueError(
            f"s1_pool: countdown example {example.question!r} needs integer 'nums', got {nums!r}"
        )
    if not isinstance(target, int):
        raise ValueError(
            f"s1_pool: countdown example {example.question!r} needs an integer 'target', got {target!r}"
        )
    # Prefer the game's rules (readable traces); fall back to any exact arithmetic countdown_reward accepts.
    for game_rules in (True, False):
        search = _Search(target, rng, game_rules)
        found = search.run([_Term(Fraction(n), str(n)) for n in nums])
        if found is not None:
            break
    if found is None:
        raise ValueError(
            f"s1_pool: found no expression of {list(nums)} that reaches {target}; is the puzzle solvable?"
        )
    wrong = search.failures[0] if search.failures else _plain_combination(list(nums), Fraction(target))
    if wrong is None:
        raise ValueError(
            f"s1_pool: every expression of {list(nums)} equals {target}; cannot make a wrong answer"
        )
    head: list[Step] = [("goal", {"target": target, "nums": ", ".join(map(str, nums))})]
    for term in search.failures:
        head.append(("try_fail", {"expr": term.text, "value": format_number(term.value), "target": target}))
    steps = [*head, ("try_ok", {"expr": found.text, "value": target}), ("final_expr", {"expr": found.text})]
    # The wrong trace claims a failed combination reaches the target (a slip in the arithmetic).
    wrong_steps = [
        *head,
        ("try_ok", {"expr": wrong.text, "value": target}),
        ("final_expr", {"expr": wrong.text}),
    ]
    code = [
        f"nums = {list(nums)}",
        f"target = {target}",
        f"print({found.text} == target)  # True",
    ]
    return Plan(steps, found.text, wrong_steps, wrong.text, code)


def gsm8k_plan(example: Any, rng: random.Random) -> Plan:
    """The reference solution without ``<<...>>`` annotations; its ``#### x`` line becomes the answer."""
    extra = getattr(example, "extra", None) or {}
    solution = extra.get("solution")
    if not isinstance(solution, str):
        solution = example.answer if isinstance(example.answer, str) and "####" in example.answer else None
    if solution is None or "####" not in solution:
        raise ValueError(
            f"s1_pool: GSM8K example {str(example.question)[:60]!r} needs its reference solution (with '#### x') "
            "in example.extra['solution']."
        )
    body, final = solution.rsplit("####", 1)
    # The task's gold answer has thousands separators removed; fall back to the solution's own final line.
    answer = example.answer.strip() if parse_number(example.answer) is not None else final.strip()
    value = parse_number(answer)
    if value is None:
        raise ValueError(f"s1_pool: GSM8K final answer {answer!r} is not a number")
    lines = [_GSM8K_CALC.sub("", line).strip() for line in body.strip().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError(f"s1_pool: GSM8K example {str(example.question)[:60]!r} has an empty solution")
    wrong = format_number(_wrong_value(value, rng))
    raw: list[Step] = [("raw", {"text": line}) for line in lines]
    steps = [("start", {}), *raw, ("final", {"c": answer})]
    wrong_steps = [("start", {}), *raw, ("final", {"c": wrong})]
    calcs = _GSM8K_CALC.findall(body)
    code = [f"step_{i + 1} = {expr.strip()}  # {result.strip()}" for i, (expr, result) in enumerate(calcs)]
    code.append(f"print(step_{len(calcs)})  # {answer}" if calcs else f"answer = {answer}\nprint(answer)")
    return Plan(steps, answer, wrong_steps, wrong, code)


PLANNERS = {"arithmetic": arithmetic_plan, "countdown": countdown_plan, "gsm8k": gsm8k_plan}
