"""Which way of reasoning a completion takes: the measurement behind "the policy thinks longer because it pays".

DeepSeek-R1 (arXiv:2501.12948, section 2.2.4, Figure 3) reports that R1-Zero's responses grow during RL because
longer reasoning is right more often. On a small model the longer reasoning has to be one the base model can already
carry out, and a prompt may show it: if the prompt shows only one way, a longer completion is a copy of it, not a
choice. So we show more than one way (``data.worked_examples``) and classify every completion by the way it took,
before and after RL, with the accuracy of each way.

The classes count the **equations** in the reasoning (``a + b = c``, with any of ``+ - * x ×`` and any number of
terms):

- ``none``: no equation (words only, or no reasoning block at all);
- ``direct``: one equation, the whole problem at once (``4 + 7 + 5 = 16.``);
- ``stepwise``: two or more equations, the problem in parts (``4 + 7 = 11. 11 + 5 = 16.``).

Departure from the paper: R1-Zero's "ways" (reflection, verification) were read by people; ours are a rule, which
fits arithmetic and says nothing about the quality of the steps (a wrong step still counts as a step).
Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import rewards

WAYS = ("none", "direct", "stepwise")
"""The ways of reasoning :func:`way_of_reasoning` tells apart, shortest first."""

EQUATION = re.compile(r"-?\d+(?:\s*[-+*x×]\s*-?\d+)+\s*=\s*-?\d+")
"""One equation: two or more numbers joined by operators, ``=``, a number."""


def reasoning_text(completion: str) -> str:
    """The reasoning of a completion that starts inside ``<think>``: the text before ``</think>``, or, when it never
    closes, before its first ``<answer>`` (or all of it).

    >>> reasoning_text("4 + 7 = 11.\\n</think>\\n<answer>11</answer>"), reasoning_text("9 = 9 <answer>9</answer>")
    ('4 + 7 = 11.', '9 = 9')
    """
    if not isinstance(completion, str):
        return ""
    think = rewards.extract_think(completion)
    if think is not None:
        return think
    return completion.split(rewards.ANSWER_OPEN, 1)[0].strip()


def count_equations(text: str) -> int:
    """How many equations ``text`` writes (:data:`EQUATION`).

    >>> count_equations("4 + 7 = 11. 11 + 5 = 16."), count_equations("The sum is 16."), count_equations("3*4 = 12")
    (2, 0, 1)
    """
    return len(EQUATION.findall(text)) if isinstance(text, str) else 0


def way_of_reasoning(completion: str) -> str:
    """The way of reasoning of one completion (prompt ending in ``<think>``): one of :data:`WAYS`.

    >>> [way_of_reasoning(c) for c in ("4 + 7 + 5 = 16.\\n</think>", "4 + 7 = 11.\\n11 + 5 = 16.</think>", "16</think>")]
    ['direct', 'stepwise', 'none']
    """
    n = count_equations(reasoning_text(completion))
    return WAYS[min(n, 2)]


def ways_of_reasoning(completions: Sequence[str]) -> list[str]:
    """:func:`way_of_reasoning` of each completion."""
    return [way_of_reasoning(c) for c in completions]


def way_shares(ways: Sequence[str], correct: Sequence[float | None] | None = None) -> dict[str, float]:
    """Share of each way among ``ways`` (``ways/<way>``) and, with ``correct``, the accuracy of the completions that
    took it (``ways/<way>/accuracy``, left out when no completion took it; ``None`` entries are not judged).

    >>> way_shares(["direct", "stepwise", "stepwise", "none"], [0.0, 1.0, 0.0, None])
    {'ways/none': 0.25, 'ways/direct': 0.25, 'ways/stepwise': 0.5, 'ways/direct/accuracy': 0.0, 'ways/stepwise/accuracy': 0.5}
    """
    n = len(ways)
    out = {f"ways/{w}": (sum(x == w for x in ways) / n if n else float("nan")) for w in WAYS}
    if correct is not None:
        for w in WAYS:
            judged = [c for x, c in zip(ways, correct) if x == w and c is not None]
            if judged:
                out[f"ways/{w}/accuracy"] = sum(judged) / len(judged)
    return out
