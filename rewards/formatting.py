"""Format rewards (DeepSeek-R1, sec. 2.2.2, "Format rewards": thinking between ``<think>`` and ``</think>``).

``format_reward`` is the strict R1-Zero template check: one think block, then one answer block, nothing else.
``tag_count_reward`` is a soft version with partial credit per well-placed tag (not in the paper; common in
open R1 reproductions) so that tiny models, which rarely hit the strict format by chance, get a gradient.

Both accept a completion that starts inside the think block, for prompts that end with ``<think>`` already. A
completion ``format_reward`` accepts has its single answer block after the only ``</think>``, which is where
``accuracy_reward`` reads the answer (``rewards._text.after_reasoning``): the two never disagree on where it is.
They only count and find tags (no regex), so 100 KB of tags costs a few linear scans.
"""

from __future__ import annotations

from typing import Any

from rewards._text import ANSWER_CLOSE, ANSWER_OPEN, TAGS, THINK_CLOSE, THINK_OPEN, completion_texts


def _format_ok(text: str) -> bool:
    counts = [text.count(tag) for tag in TAGS]
    if counts[0] > 1 or counts[1:] != [1, 1, 1]:
        return False
    body = text.strip()
    if counts[0] == 1 and not body.startswith(THINK_OPEN):
        return False
    # Without <think>, the completion starts inside the think block (the prompt ended with the tag).
    rest = body[body.find(THINK_CLOSE) + len(THINK_CLOSE) :].strip()
    return rest.startswith(ANSWER_OPEN) and rest.endswith(ANSWER_CLOSE)


def format_reward(completions: list, **kwargs: Any) -> list[float]:
    """1.0 when a completion is exactly ``<think>...</think>`` then ``<answer>...</answer>``, else 0.0.

    Whitespace is allowed around the blocks; each tag must occur exactly once, except that ``<think>`` may be
    absent when the completion starts inside the think block (prompt ending with ``<think>``). Block contents
    may be anything without these tags, including empty.

    >>> format_reward(["<think>2+2=4</think>\\n<answer>4</answer>", "2+2=4</think><answer>4</answer>",
    ...                "<answer>4</answer>", "<think>a</think><answer>4</answer> extra"])
    [1.0, 1.0, 0.0, 0.0]
    """
    return [1.0 if _format_ok(text) else 0.0 for text in completion_texts(completions)]


def _tag_score(text: str) -> float:
    counts = [text.count(tag) for tag in TAGS]
    positions = [text.find(tag) for tag in TAGS]
    if counts[0] == 0 and counts[1] == 1:  # prefilled <think>: it sits before the completion
        counts[0], positions[0] = 1, -1
    single = [i for i in range(4) if counts[i] == 1]
    score = 0.0
    for i in single:
        in_order = all((positions[j] < positions[i]) == (j < i) for j in single if j != i)
        if in_order:
            score += 0.25
    return score


def tag_count_reward(completions: list, **kwargs: Any) -> list[float]:
    """Soft format: 0.25 for each of ``<think>``, ``</think>``, ``<answer>``, ``</answer>`` that is well placed.

    Exact rule: a tag earns 0.25 when it occurs exactly once in the completion and its position is consistent
    with the order ``<think>`` < ``</think>`` < ``<answer>`` < ``</answer>`` relative to every other tag that
    also occurs exactly once. A missing ``<think>`` counts as present at the very start when ``</think>``
    occurs exactly once (the prompt ended with ``<think>``). Values: 0.0, 0.25, 0.5, 0.75 or 1.0.

    >>> tag_count_reward(["<think>a</think><answer>4</answer>", "a</think><answer>4</answer>",
    ...                   "<answer>4</answer>", "</answer>4<answer>", "<think><think>"])
    [1.0, 1.0, 0.5, 0.0, 0.0]
    """
    return [_tag_score(text) for text in completion_texts(completions)]
