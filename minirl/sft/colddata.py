"""Synthetic cold-start data: clean chain-of-thought traces and an "uncurated" pool (DeepSeek-R1, sec. 2.3.1).

R1-Zero's reasoning mixed languages and was hard to read; R1 fixed it with "a small amount of long CoT data" as a
cold start, built with a pattern that "filters out responses that are not reader-friendly". We reproduce the *situation* offline and
seeded, for tasks whose answers are known:

- :func:`make_pool` renders, for each problem, one completion of a kind drawn from :class:`PoolConfig`:
  ``clean`` (English step-by-step reasoning, right answer, good tags), ``mixed_language`` (switches from English to
  Chinese with a Russian sentence, R1-Zero style), ``code_in_reasoning`` (the reasoning turns into Python),
  ``broken_tags``, ``wrong_answer``, ``repetition`` (a loop) and ``duplicate`` (a near copy of another record).
- :func:`to_sft_records` turns records into ``{"prompt", "completion"}`` pairs whose prompt is the exact RL prompt,
  so cold-start SFT trains the distribution RL samples from.

Everything is synthetic: the phrase banks below are short sentences written for this project (English, Chinese,
Russian), the reasoning is derived from each problem's own numbers, and GSM8K traces are the dataset's reference
solution reformatted. See ``docs/cold_start_data.md``.

Departure, on purpose: the mixed-language and code traces are *correct* by default (right answer, good tags,
``PoolConfig.mixed_traces_correct``). A correctness-only RL reward then pays the mixed mode as much as the clean
one, so mixing that the uncurated SFT put in can grow during RL, as in R1-Zero, unless a language reward or
curation removes it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any

from minirl.tasks import Example, build_prompt, render_completion
from rewards import format_number, parse_gold, parse_number

KINDS = (
    "clean",
    "mixed_language",
    "code_in_reasoning",
    "broken_tags",
    "wrong_answer",
    "repetition",
    "duplicate",
)
"""Record kinds, ``clean`` first; ``PoolConfig`` has a share for each of the others."""

TASKS = ("arithmetic", "countdown", "gsm8k")

STRATEGIES = ("same", "counting")
"""How mixed-language traces reason (``PoolConfig.mixed_strategy``)."""

# ---------------------------------------------------------------------------------------------------------------------
# Phrase banks (our own short sentences). Keys are step types; fields in braces are filled per problem.

PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "start": (
            "Let me work this out step by step.",
            "I will solve this one step at a time.",
            "Let me think about this carefully.",
        ),
        "first_op": ("First, {a} {op} {b} = {c}.", "Start with {a} {op} {b} = {c}."),
        "next_op": ("Then {a} {op} {b} = {c}.", "Next, {a} {op} {b} = {c}."),
        "check": ("Let me double-check: the result is {c}.", "Checking it again gives {c}."),
        "final": ("So the answer is {c}.", "Therefore the answer is {c}."),
        "goal": ("We need to reach {target} using {nums}, each exactly once.",),
        "try_fail": (
            "Try {expr} = {value}. That is not {target}.",
            "What about {expr} = {value}? No, we need {target}.",
        ),
        "try_ok": ("Try {expr} = {value}. That works!", "Now {expr} = {value}, which is exactly the target."),
        "final_expr": ("So the expression is {expr}.", "The expression {expr} uses every number once."),
        "raw": ("{text}",),
        "code_intro": ("Let me write this in Python.", "I will compute the rest with code."),
        "loop": ("Wait, let me check that again.", "Hmm, let me recompute this."),
        "count_intro": ("Count up {small} times from {big}:",),
        "count": ("{seq}.",),
        "count_zero": ("Adding 0 leaves {big}.",),
        "count_check": ("Check: {c}.",),
    },
    "zh": {
        "start": ("让我一步一步地计算。", "我来仔细想一想。", "我们一步一步来解。"),
        "first_op": ("首先，{a} {op} {b} = {c}。", "先算 {a} {op} {b} = {c}。"),
        "next_op": ("然后 {a} {op} {b} = {c}。", "接着 {a} {op} {b} = {c}。"),
        "check": ("检查一下：结果是 {c}。", "再验算一遍，得到 {c}。"),
        "final": ("所以答案是 {c}。", "因此答案是 {c}。"),
        "goal": ("我们需要用 {nums} 得到 {target}，每个数只用一次。",),
        "try_fail": ("试试 {expr} = {value}，不等于 {target}。", "如果 {expr} = {value}，还不是 {target}。"),
        "try_ok": ("试试 {expr} = {value}，正好！", "{expr} = {value}，正好是目标。"),
        "final_expr": ("所以表达式是 {expr}。", "表达式 {expr} 每个数都用了一次。"),
        "raw": ("然后，{text}", "接着算：{text}", "也就是说，{text}"),
        "count_intro": ("从 {big} 往上数 {small} 次：", "从 {big} 开始数 {small} 次："),
        "count": ("{seq}。",),
        "count_zero": ("加 0 不变：{big}。",),
        "count_check": ("检查：{c}。",),
    },
    "ru": {
        "start": ("Давайте решим это по шагам.", "Подумаем внимательно.", "Решим задачу шаг за шагом."),
        "first_op": ("Сначала {a} {op} {b} = {c}.", "Для начала {a} {op} {b} = {c}."),
        "next_op": ("Затем {a} {op} {b} = {c}.", "Дальше {a} {op} {b} = {c}."),
        "check": ("Проверим: получается {c}.", "Ещё раз проверим, выходит {c}."),
        "final": ("Значит, ответ {c}.", "Итак, ответ {c}."),
        "goal": ("Нужно получить {target} из чисел {nums}, каждое ровно один раз.",),
        "try_fail": (
            "Попробуем {expr} = {value}, это не {target}.",
            "А если {expr} = {value}? Нет, нужно {target}.",
        ),
        "try_ok": ("Попробуем {expr} = {value}. Подходит!", "Тогда {expr} = {value}, ровно то, что нужно."),
        "final_expr": ("Значит, выражение: {expr}.", "Выражение {expr} использует каждое число один раз."),
        "raw": ("Далее: {text}", "Затем: {text}", "То есть {text}"),
        "count_intro": ("От {big} считаем {small} раз:",),
        "count": ("{seq}.",),
        "count_zero": ("Плюс 0: {big}.",),
        "count_check": ("Проверим: {c}.",),
    },
}

Step = tuple[str, dict[str, Any]]
"""One reasoning step: a phrase key and the fields that fill it."""


# ---------------------------------------------------------------------------------------------------------------------
# Pool configuration


@dataclass(frozen=True)
class PoolConfig:
    """Shares of each non-clean kind in an uncurated pool; the rest is clean.

    Counts are allocated by largest remainder (``round(share * n)`` with the total kept at ``n``), so the
    realised share of each kind is within ``1/n`` of its setting and exact when ``share * n`` is whole.

    >>> PoolConfig().clean
    0.25
    >>> PoolConfig(mixed_language=0.9, wrong_answer=0.2)
    Traceback (most recent call last):
    ...
    ValueError: PoolConfig: the shares sum to 1.45 > 1; lower some of them (the rest of the pool is clean).
    """

    mixed_language: float = 0.3
    """Reasoning that switches from English to Chinese, with a Russian sentence."""
    code_in_reasoning: float = 0.15
    """Reasoning that continues as Python code (fenced or bare lines)."""
    broken_tags: float = 0.1
    """A missing or doubled tag, an unclosed answer, or text after the answer."""
    wrong_answer: float = 0.1
    """Clean-looking reasoning that ends in a wrong answer."""
    repetition: float = 0.05
    """A sentence repeated in a row (a decoding loop), 8-14 times plus as many words as the reasoning has."""
    duplicate: float = 0.05
    """A copy of another record with whitespace and case changed (exact after normalization)."""
    mixed_traces_correct: bool = True
    """Mixed-language and code traces have the right answer and tags (so RL on correctness alone pays them);
    False gives them a wrong answer instead."""
    mixed_strategy: str = "same"
    """How mixed-language traces reason: ``"same"`` (the English steps, in other languages) or ``"counting"``
    (two-number additions count up from the larger addend one number at a time, in Chinese, when the smaller
    one is at most ``MAX_COUNT``; other problems keep ``"same"``). Counting is slower but mechanical, so a small
    model gets it right more often than a recalled sum: the mixed mode then *pays more* under a correctness reward
    for a reason the model can learn."""

    def __post_init__(self) -> None:
        if self.mixed_strategy not in STRATEGIES:
            raise ValueError(
                f"PoolConfig.mixed_strategy must be one of {STRATEGIES}, got {self.mixed_strategy!r}"
            )
        for name, share in self.shares().items():
            if not isinstance(share, (int, float)) or not 0 <= share <= 1:
                raise ValueError(f"PoolConfig.{name} must be a share in [0, 1], got {share!r}")
        total = sum(self.shares().values())
        if total > 1 + 1e-9:
            raise ValueError(
                f"PoolConfig: the shares sum to {total:.3g} > 1; lower some of them (the rest of the pool is clean)."
            )

    def shares(self) -> dict[str, float]:
        """The share of each non-clean kind, in ``KINDS`` order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in KINDS}

    @property
    def clean(self) -> float:
        """The share of clean traces: one minus the other shares."""
        return round(1.0 - sum(self.shares().values()), 12)


CLEAN_ONLY = PoolConfig(**dict.fromkeys(KINDS[1:], 0.0))
"""A pool of clean traces only (the curated cold-start data of R1)."""


def allocate(n: int, config: PoolConfig) -> dict[str, int]:
    """How many records of each kind a pool of ``n`` gets (largest remainder; ties go to the earlier kind).

    >>> allocate(20, PoolConfig())
    {'clean': 5, 'mixed_language': 6, 'code_in_reasoning': 3, 'broken_tags': 2, 'wrong_answer': 2, 'repetition': 1, 'duplicate': 1}
    >>> sum(allocate(7, PoolConfig()).values())
    7
    """
    if n < 0:
        raise ValueError(f"allocate: n must be >= 0, got {n}")
    shares = {"clean": config.clean, **config.shares()}
    exact = {kind: share * n for kind, share in shares.items()}
    counts = {kind: int(value + 1e-9) for kind, value in exact.items()}
    left = n - sum(counts.values())
    order = sorted(shares, key=lambda k: (-(exact[k] - counts[k]), KINDS.index(k)))
    for kind in order[:left]:
        counts[kind] += 1
    return counts


# ---------------------------------------------------------------------------------------------------------------------
# Solution plans: one per problem; every kind of trace is rendered from it.


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
            f"colddata: arithmetic example {str(example.question)[:60]!r} has no worked_steps; make it with "
            "ArithmeticTask (task.examples(...) or task.example(terms, operators))."
        )
    gold_text = parse_gold(example.answer)
    gold = parse_number(gold_text) if gold_text is not None else None
    value = Fraction(ops[-1].value)
    if gold is None or value != gold:
        raise ValueError(
            f"colddata: the worked steps of question {example.question!r} end at {format_number(value)}, "
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

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


@dataclass(frozen=True)
class _Term:
    value: Fraction
    text: str
    op: str | None = None  # top-level operator; None for a number

    def wrap(self, parent: str, right: bool) -> str:
        if self.op is None:
            return self.text
        weaker = _PREC[self.op] < _PREC[parent]
        same_but_grouped = right and _PREC[self.op] == _PREC[parent] and parent in "-/"
        return f"({self.text})" if weaker or same_but_grouped else self.text


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
    return _Term(value, f"{x.wrap(op, False)} {op} {y.wrap(op, True)}", op)


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
            f"colddata: countdown example {example.question!r} needs integer 'nums', got {nums!r}"
        )
    if not isinstance(target, int):
        raise ValueError(
            f"colddata: countdown example {example.question!r} needs an integer 'target', got {target!r}"
        )
    # Prefer the game's rules (readable traces); fall back to any exact arithmetic countdown_reward accepts.
    for game_rules in (True, False):
        search = _Search(target, rng, game_rules)
        found = search.run([_Term(Fraction(n), str(n)) for n in nums])
        if found is not None:
            break
    if found is None:
        raise ValueError(
            f"colddata: found no expression of {list(nums)} that reaches {target}; is the puzzle solvable?"
        )
    wrong = search.failures[0] if search.failures else _plain_combination(list(nums), Fraction(target))
    if wrong is None:
        raise ValueError(
            f"colddata: every expression of {list(nums)} equals {target}; cannot make a wrong answer"
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
            f"colddata: GSM8K example {str(example.question)[:60]!r} needs its reference solution (with '#### x') "
            "in example.extra['solution']."
        )
    body, final = solution.rsplit("####", 1)
    # The task's gold answer has thousands separators removed; fall back to the solution's own final line.
    answer = example.answer.strip() if parse_number(example.answer) is not None else final.strip()
    value = parse_number(answer)
    if value is None:
        raise ValueError(f"colddata: GSM8K final answer {answer!r} is not a number")
    lines = [_GSM8K_CALC.sub("", line).strip() for line in body.strip().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError(f"colddata: GSM8K example {str(example.question)[:60]!r} has an empty solution")
    wrong = format_number(_wrong_value(value, rng))
    raw: list[Step] = [("raw", {"text": line}) for line in lines]
    steps = [("start", {}), *raw, ("final", {"c": answer})]
    wrong_steps = [("start", {}), *raw, ("final", {"c": wrong})]
    calcs = _GSM8K_CALC.findall(body)
    code = [f"step_{i + 1} = {expr.strip()}  # {result.strip()}" for i, (expr, result) in enumerate(calcs)]
    code.append(f"print(step_{len(calcs)})  # {answer}" if calcs else f"answer = {answer}\nprint(answer)")
    return Plan(steps, answer, wrong_steps, wrong, code)


PLANNERS = {"arithmetic": arithmetic_plan, "countdown": countdown_plan, "gsm8k": gsm8k_plan}


# ---------------------------------------------------------------------------------------------------------------------
# Rendering


def _say(step: Step, lang: str, rng: random.Random) -> str:
    key, values = step
    bank = PHRASES[lang].get(key) or PHRASES["en"][key]
    return rng.choice(bank).format(**values)


def render_steps(steps: Sequence[Step], rng: random.Random, languages: Sequence[str] | None = None) -> str:
    """The reasoning text: one line per step, each in its language (English by default).

    >>> print(render_steps([("start", {}), ("final", {"c": 7})], random.Random(1)))
    Let me work this out step by step.
    So the answer is 7.
    >>> render_steps([("final", {"c": 7})], random.Random(1), ["zh"])
    '所以答案是 7。'
    """
    languages = languages or ["en"] * len(steps)
    return "\n".join(_say(step, lang, rng) for step, lang in zip(steps, languages))


def mixed_languages(n: int, rng: random.Random) -> list[str]:
    """A language per step: English first, Chinese from a switch point in the first half on, one Russian step.

    >>> langs = mixed_languages(5, random.Random(1))
    >>> langs[0], "zh" in langs, langs.count("ru")
    ('en', True, 1)
    """
    if n < 3:
        raise ValueError(f"a mixed-language trace needs at least 3 steps, got {n}")
    switch = rng.randint(1, max(1, (n - 1) // 2))  # switch in the first half, so most of the reasoning mixes
    russian = rng.choice([i for i in range(1, n) if i != switch])
    langs = ["zh" if i >= switch else "en" for i in range(n)]
    langs[russian] = "ru"
    return langs


def counting_languages(n: int) -> list[str]:
    """Languages of a counting trace's ``n`` steps: an English opening, Chinese counting, a Russian check.

    >>> counting_languages(5)
    ['en', 'zh', 'zh', 'ru', 'zh']
    """
    if n < 3:
        raise ValueError(f"a counting trace needs at least 3 steps, got {n}")
    return ["en", *["zh"] * (n - 3), "ru", "zh"]


def _code_block(code: list[str], rng: random.Random) -> str:
    # Fenced like a chat answer, or bare lines as R1-Zero samples often had.
    return "```python\n" + "\n".join(code) + "\n```" if rng.random() < 0.5 else "\n".join(code)


def _broken(reasoning: str, answer: str, rng: random.Random) -> str:
    variants = (
        f"{reasoning}\n<answer>{answer}</answer>",  # no </think>
        f"{reasoning}\n</think>\n<answer>{answer}",  # unclosed answer
        f"{reasoning}\n</think>\nThe answer is {answer}.",  # no answer block
        f"{reasoning}\n</think>\n</think>\n<answer>{answer}</answer>",  # doubled tag
        f"{reasoning}\n</think>\n<answer>{answer}</answer>\n<think>\nLet me check again.",  # text after the answer
    )
    return rng.choice(variants)


def render_trace(
    kind: str,
    example: Any,
    plan: Plan,
    rng: random.Random,
    mixed_traces_correct: bool = True,
    mixed_strategy: str = "same",
) -> str:
    """One completion of ``kind`` (any of ``KINDS`` but ``duplicate``) rendered from ``plan``.

    The completion starts inside the think block (the RL prompt ends with ``<think>``). ``mixed_traces_correct``
    and ``mixed_strategy`` are :class:`PoolConfig`'s.
    """
    correct = kind not in ("mixed_language", "code_in_reasoning") or mixed_traces_correct
    steps, answer = (plan.steps, plan.answer) if correct else (plan.wrong_steps, plan.wrong_answer)
    if kind == "clean":
        return render_completion(example, render_steps(steps, rng), answer)
    if kind == "mixed_language" and correct and mixed_strategy == "counting" and plan.counting:
        languages = counting_languages(len(plan.counting))
        return render_completion(example, render_steps(plan.counting, rng, languages), answer)
    if kind == "mixed_language":
        return render_completion(example, render_steps(steps, rng, mixed_languages(len(steps), rng)), answer)
    if kind == "code_in_reasoning":
        # Keep some English steps, then let Python take over the rest of the computation.
        cut = rng.randint(1, max(1, len(steps) - 2))
        head = render_steps(steps[:cut], rng)
        intro = _say(("code_intro", {}), "en", rng)
        tail = _say(steps[-1], "en", rng)
        return render_completion(example, f"{head}\n{intro}\n{_code_block(plan.code, rng)}\n{tail}", answer)
    if kind == "broken_tags":
        return _broken(render_steps(plan.steps, rng), plan.answer, rng)
    if kind == "wrong_answer":
        return render_completion(example, render_steps(plan.wrong_steps, rng), plan.wrong_answer)
    if kind == "repetition":
        lines = render_steps(plan.steps, rng).split("\n")
        at = rng.randint(1, len(lines) - 1)
        phrase = _say(("loop", {}), "en", rng)
        # At least as many words as the rest of the reasoning, as a decoding loop would produce.
        times = rng.randint(8, 14) + sum(len(line.split()) for line in lines) // len(phrase.split())
        loop = " ".join([phrase] * times)
        return render_completion(example, "\n".join([*lines[:at], loop, *lines[at:]]), plan.answer)
    raise ValueError(f"render_trace: unknown kind {kind!r}; use one of {KINDS[:-1]}")


def _perturb(text: str, rng: random.Random) -> str:
    """The same text with one word's case flipped and a doubled space: equal after ``normalize_text``.

    Only plain words change, never tags or numbers, so the copy keeps its format and answer.
    """
    words = text.split(" ")
    plain = [i for i, w in enumerate(words) if w.isalpha()] or [0]
    i = rng.choice(plain)
    words[i] = words[i].swapcase()
    words[rng.choice(plain)] += " "
    return " ".join(words)


# ---------------------------------------------------------------------------------------------------------------------
# Pools


def _task_name(task: Any) -> str:
    name = task if isinstance(task, str) else getattr(task, "name", None)
    if name not in PLANNERS:
        raise ValueError(f"colddata: no cold-start traces for task {name!r}; supported: {', '.join(TASKS)}")
    return name


def make_record(task: str, example: Any, kind: str, completion: str) -> dict[str, Any]:
    """A pool record: the problem, its gold columns (``example.reward_kwargs()``), ``kind`` and ``completion``."""
    gold = dict(example.reward_kwargs()) if hasattr(example, "reward_kwargs") else {}
    return {
        "task": task,
        "prompt_question": example.question,
        "answer": example.answer,
        **gold,
        "extra": dict(getattr(example, "extra", None) or {}),
        "kind": kind,
        "completion": completion,
    }


def make_pool(
    task: Any, examples: Sequence[Any], config: PoolConfig | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """One record per example, kinds allocated by ``config`` (default :class:`PoolConfig`) and shuffled.

    Args:
        task: a ``minirl.tasks.Task`` or its name (``arithmetic``, ``countdown``, ``gsm8k``).
        examples: the task's examples (``task.examples(split, n, seed)``); each gives one record.
        config: the shares of each kind; :data:`CLEAN_ONLY` for clean traces only.
        seed: the whole pool is a function of ``(examples, config, seed)``.

    Returns:
        Records ``{"task", "prompt_question", "answer", <gold kwargs>, "extra", "kind", "completion"}``.
        A ``duplicate`` record copies another record's problem and completion (its own example is unused).
    """
    name = _task_name(task)
    config = config or PoolConfig()
    if not examples:
        raise ValueError("make_pool: no examples given")
    counts = allocate(len(examples), config)
    kinds = [kind for kind in KINDS for _ in range(counts[kind])]
    random.Random(seed).shuffle(kinds)
    records: list[dict[str, Any] | None] = [None] * len(examples)
    for i, (example, kind) in enumerate(zip(examples, kinds)):
        if kind == "duplicate":
            continue
        rng = random.Random(seed * 1_000_003 + i)
        try:
            plan = PLANNERS[name](example, rng)
        except ValueError as err:
            raise ValueError(f"make_pool: example #{i}: {err}") from None
        records[i] = make_record(
            name,
            example,
            kind,
            render_trace(kind, example, plan, rng, config.mixed_traces_correct, config.mixed_strategy),
        )
    # A duplicate copies a clean record placed before it when there is one, so that the copy, not the original,
    # is what near-duplicate filtering drops.
    clean_at = [i for i, r in enumerate(records) if r is not None and r["kind"] == "clean"]
    others = [r for r in records if r is not None]
    rng = random.Random(seed * 1_000_003 - 1)
    for i, kind in enumerate(kinds):
        if kind != "duplicate":
            continue
        before = [records[j] for j in clean_at if j < i]
        candidates = before or [records[j] for j in clean_at] or others
        if not candidates:
            raise ValueError("make_pool: a pool of duplicates only has nothing to copy; lower `duplicate`")
        source = rng.choice(candidates)
        records[i] = {
            **source,
            "extra": dict(source["extra"]),
            "kind": "duplicate",
            "completion": _perturb(source["completion"], rng),
        }
    return [r for r in records if r is not None]


def make_clean(task: Any, examples: Sequence[Any], seed: int = 0) -> list[dict[str, Any]]:
    """Clean traces only: English reasoning, right answer, good tags (``make_pool`` with :data:`CLEAN_ONLY`)."""
    return make_pool(task, examples, CLEAN_ONLY, seed)


# ---------------------------------------------------------------------------------------------------------------------
# SFT records


def to_sft_records(
    records: Sequence[dict[str, Any]], tokenizer: Any, style: Any, task: Any
) -> list[dict[str, str]]:
    """Prompt-completion pairs for SFT: the exact RL prompt and the completion followed by the EOS token.

    The prompt is ``minirl.tasks.build_prompt`` of the record's problem, so SFT trains the distribution RL samples
    from. When the style does not prefill ``<think>``, the completion gets the opening tag itself (and loses it
    when the prompt has it already).

    >>> from minirl.tasks import PromptStyle, get_task
    >>> from minirl.testing import make_tiny_tokenizer
    >>> task = get_task("arithmetic")
    >>> records = make_clean(task, task.examples("train", n=1))
    >>> pair = to_sft_records(records, make_tiny_tokenizer(), PromptStyle(), task)[0]
    >>> pair["prompt"].endswith("assistant\\n<think>\\n"), pair["completion"].endswith("</answer><|im_end|>")
    (True, True)
    """
    eos = tokenizer.eos_token
    if not eos:
        raise ValueError("to_sft_records: the tokenizer has no eos_token; set tokenizer.eos_token first")
    out = []
    for i, rec in enumerate(records):
        missing = [k for k in ("prompt_question", "answer", "completion") if k not in rec]
        if missing:
            raise ValueError(f"to_sft_records: record #{i} lacks {missing}; make records with make_pool()")
        example = Example(
            question=rec["prompt_question"], answer=rec["answer"], extra=dict(rec.get("extra") or {})
        )
        prompt = build_prompt(example, tokenizer, style, task=task)
        completion = rec["completion"]
        prefilled, opened = prompt.rstrip().endswith("<think>"), completion.lstrip().startswith("<think>")
        if prefilled and opened:  # a sampled trace that re-opened the block: keep one <think>
            completion = completion.lstrip()[len("<think>") :].lstrip()
        elif not prefilled and not opened:
            completion = "<think>\n" + completion
        if not completion.endswith(eos):
            completion += eos
        out.append({"prompt": prompt, "completion": completion})
    return out
