"""Completion text and tag extraction shared by every reward.

A reward sees whatever a model emits, so everything here is total: any input (``None``, a conversation, a
string with unbalanced tags, lone surrogates) gives a string or ``None``, never an exception. All scans are
``str.find``/``str.rfind`` or single forward passes, so time is linear in the text length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

_BOXED = "\\boxed{"
_BRACES = re.compile(r"\\boxed\{|[{}]")


def _content_text(content: Any) -> str:
    """Text of a message's ``content``: a string, or a list of parts like ``{"type": "text", "text": ...}``."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or a conversation of messages (``[{"role", "content"}]``).

    For a conversation the contents of the assistant messages (and of messages without a role) are joined
    with newlines; other roles (tool results, a repeated prompt) are not the model's words. Bytes are
    decoded as UTF-8 with replacement; anything else (``None``, numbers) gives ``""``.

    >>> completion_text("<answer>4</answer>")
    '<answer>4</answer>'
    >>> completion_text([{"role": "assistant", "content": "<answer>4</answer>"}])
    '<answer>4</answer>'
    >>> completion_text(None)
    ''
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (bytes, bytearray)):
        return bytes(completion).decode("utf-8", errors="replace")
    if isinstance(completion, Mapping):  # a single message
        completion = [completion]
    if isinstance(completion, Sequence):
        texts = [
            _content_text(msg.get("content"))
            for msg in completion
            if isinstance(msg, Mapping) and msg.get("role", "assistant") == "assistant"
        ]
        return "\n".join(texts)
    return ""


def completion_texts(completions: Any) -> list[str]:
    """``completion_text`` over a batch; a bare string is refused (it would be scored character by character)."""
    if isinstance(completions, (str, bytes)):
        raise TypeError(
            "completions must be a list of completions (strings or conversations), got a single string; "
            "wrap it in a list: reward([text])."
        )
    if not isinstance(completions, Sequence):
        raise TypeError(f"completions must be a list, got {type(completions).__name__}.")
    return [completion_text(c) for c in completions]


def column(value: Any, n: int, name: str, reward: str) -> list[Any]:
    """A gold column as a list of ``n`` values; a single non-list value is repeated for every completion.

    Gold data arrives as keyword lists named after dataset columns (TRL repeats each example's value once per
    generation). A wrong length is a caller bug, so it raises with the names involved.
    """
    if value is None:
        raise ValueError(f"{reward} needs the gold column `{name}` (pass {name}=[...], one per completion).")
    if hasattr(value, "tolist"):  # numpy array or tensor column
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{reward}: `{name}` has {len(value)} entries but there are {n} completions.")
        return list(value)
    return [value] * n


def extract_think(text: str) -> str | None:
    """The reasoning: the text between ``<think>`` and the first ``</think>``, stripped.

    When the prompt already ends with ``<think>`` the completion has no opening tag, so the reasoning is then
    everything before ``</think>``. ``None`` when there is no ``</think>``.

    >>> extract_think("<think> 2+2=4 </think><answer>4</answer>")
    '2+2=4'
    >>> extract_think("2+2=4</think><answer>4</answer>")
    '2+2=4'
    >>> extract_think("<answer>4</answer>") is None
    True
    """
    if not isinstance(text, str):
        return None
    end = text.find(THINK_CLOSE)
    if end < 0:
        return None
    start = text.rfind(THINK_OPEN, 0, end)
    start = 0 if start < 0 else start + len(THINK_OPEN)
    return text[start:end].strip()


def last_boxed(text: str) -> str | None:
    r"""Content of the last complete ``\boxed{...}`` (balanced braces), or ``None``.

    "Last" is the one whose closing brace comes last, found in one forward pass with a stack, so nested or
    unclosed boxes cost linear time.

    >>> last_boxed(r"so \boxed{\frac{1}{2}} or \boxed{3}")
    '3'
    >>> last_boxed(r"\boxed{\frac{1}{2}") is None
    True
    """
    if not isinstance(text, str) or _BOXED not in text:
        return None
    stack: list[int] = []  # content start of each open brace; -1 for braces that are not a \boxed{
    best: tuple[int, int] | None = None
    for m in _BRACES.finditer(text, text.find(_BOXED)):
        if m.group() == "}":
            if stack:
                start = stack.pop()
                if start >= 0:
                    best = (start, m.start())
        else:
            stack.append(m.end() if m.group() == _BOXED else -1)
    return None if best is None else text[best[0] : best[1]]


def after_reasoning(text: str, in_reasoning: bool = False) -> str | None:
    """The part of a completion where its answer may be: what follows the reasoning.

    - with a ``</think>``: everything after the **last** one (as TRL's ``reasoning_accuracy_reward``), so an
      answer written inside the reasoning is not the answer;
    - with a ``<think>`` (or ``in_reasoning``: the prompt ended with ``<think>``) but no ``</think>`` after it:
      ``None``, the reasoning never ended, so there is no answer yet;
    - without think tags: the whole text (a completion that does not reason).

    >>> after_reasoning("<think>a <answer>1</answer></think> <answer>2</answer>")
    ' <answer>2</answer>'
    >>> after_reasoning("<think>a <answer>1</answer>") is None, after_reasoning("a", in_reasoning=True) is None
    (True, True)
    """
    if not isinstance(text, str):
        return None
    close = text.rfind(THINK_CLOSE)
    if text.rfind(THINK_OPEN) > close or (in_reasoning and close < 0):
        return None
    return text if close < 0 else text[close + len(THINK_CLOSE) :]


def prompt_opens_reasoning(prompt: Any) -> bool:
    """Whether a prompt ends inside an open think block (``...<think>``), so its completion starts in the reasoning.

    A prompt is a string, or a conversation whose last message is the assistant's message being continued.

    >>> prompt_opens_reasoning("Q: 2+2? <think>\\n"), prompt_opens_reasoning("Q: 2+2?"), prompt_opens_reasoning(None)
    (True, False, False)
    """
    if isinstance(prompt, Sequence) and not isinstance(prompt, (str, bytes)) and prompt:
        last = prompt[-1]
        if not (isinstance(last, Mapping) and last.get("role") == "assistant"):
            return False
        prompt = _content_text(last.get("content"))
    return isinstance(prompt, str) and prompt.rstrip().endswith(THINK_OPEN)


def reasoning_flags(prompts: Any, n: int, reward: str) -> list[bool]:
    """``prompt_opens_reasoning`` for each of ``n`` completions from the ``prompts`` keyword (all False without it)."""
    if prompts is None:
        return [False] * n
    return [prompt_opens_reasoning(p) for p in column(prompts, n, "prompts", reward)]


def extract_answer(text: str, in_reasoning: bool = False) -> str | None:
    r"""The final answer: the content of the last ``<answer>...</answer>`` after the reasoning (``after_reasoning``),
    or inside it of the last ``\boxed{}``.

    Stripped; ``None`` when there is no complete answer block after the reasoning, or the reasoning never ended
    (``in_reasoning``: the prompt ended with ``<think>``, so the completion starts inside it). This is what
    ``accuracy_reward`` compares, and a completion ``format_reward`` calls well-formed always has one.

    >>> extract_answer("<think>...</think><answer>The answer is \\boxed{18}.</answer>")
    '18'
    >>> extract_answer("<answer>1</answer> <answer> 2 </answer>")
    '2'
    >>> extract_answer("<answer>7") is None, extract_answer("<think>so <answer>7</answer></think>") is None
    (True, True)
    """
    text = after_reasoning(text, in_reasoning)
    if text is None:
        return None
    end = text.rfind(ANSWER_CLOSE)
    if end < 0:
        return None
    start = text.rfind(ANSWER_OPEN, 0, end)
    if start < 0:
        return None
    inner = text[start + len(ANSWER_OPEN) : end]
    boxed = last_boxed(inner)
    return (boxed if boxed is not None else inner).strip()


def strip_tags(text: str) -> str:
    """``text`` with the four format tags replaced by spaces (so tag names never count as words).

    >>> strip_tags("<think>hi</think>")
    ' hi '
    """
    for tag in TAGS:
        text = text.replace(tag, " ")
    return text
