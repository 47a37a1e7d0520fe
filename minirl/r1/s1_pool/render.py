"""Rendering one trace of a kind from a problem's :class:`~minirl.r1.s1_pool.plans.Plan`.

The completion starts inside the think block (the RL prompt ends with ``<think>``) and ends with the answer block,
or breaks that format on purpose (``broken_tags``).
"""

from __future__ import annotations

import random
from typing import Any

from minirl.r1.s1_pool.phrases import counting_languages, mixed_languages, render_steps, say
from minirl.r1.s1_pool.plans import Plan
from minirl.tasks import render_completion

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

STRATEGIES = ("same", "counting")
"""How mixed-language traces reason (``PoolConfig.mixed_strategy``)."""


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
        intro = say(("code_intro", {}), "en", rng)
        tail = say(steps[-1], "en", rng)
        return render_completion(example, f"{head}\n{intro}\n{_code_block(plan.code, rng)}\n{tail}", answer)
    if kind == "broken_tags":
        return _broken(render_steps(plan.steps, rng), plan.answer, rng)
    if kind == "wrong_answer":
        return render_completion(example, render_steps(plan.wrong_steps, rng), plan.wrong_answer)
    if kind == "repetition":
        lines = render_steps(plan.steps, rng).split("\n")
        at = rng.randint(1, len(lines) - 1)
        phrase = say(("loop", {}), "en", rng)
        # At least as many words as the rest of the reasoning, as a decoding loop would produce.
        times = rng.randint(8, 14) + sum(len(line.split()) for line in lines) // len(phrase.split())
        loop = " ".join([phrase] * times)
        return render_completion(example, "\n".join([*lines[:at], loop, *lines[at:]]), plan.answer)
    raise ValueError(f"render_trace: unknown kind {kind!r}; use one of {KINDS[:-1]}")


def perturb(text: str, rng: random.Random) -> str:
    """The same text with one word's case flipped and a doubled space: equal after ``normalize_text``.

    Only plain words change, never tags or numbers, so the copy keeps its format and answer.
    """
    words = text.split(" ")
    plain = [i for i, w in enumerate(words) if w.isalpha()] or [0]
    i = rng.choice(plain)
    words[i] = words[i].swapcase()
    words[rng.choice(plain)] += " "
    return " ".join(words)
