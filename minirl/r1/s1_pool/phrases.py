"""Phrase banks and the language of each reasoning step (our own short sentences: English, Chinese, Russian).

A step is ``(key, fields)``: the key picks a phrase bank entry, the fields fill its braces. ``render_steps`` writes
one line per step, each in its own language; ``mixed_languages`` and ``counting_languages`` choose those languages
for the mixed-language traces of :mod:`minirl.r1.s1_pool`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

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


def say(step: Step, lang: str, rng: random.Random) -> str:
    """One step as a sentence in ``lang`` (a random phrase of its bank; English when the language lacks it)."""
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
    return "\n".join(say(step, lang, rng) for step, lang in zip(steps, languages))


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
