"""The records passed between the stages of the R1 pipeline.

1. cold-start data (:mod:`minirl.r1.s1_pool`) -> 2. curation (:mod:`minirl.r1.s2_curate`) -> 3. SFT
(:mod:`minirl.r1.s3_sft`) -> 4. RL (:mod:`minirl.r1.s4_grpo`) -> 5. rejection sampling (:mod:`minirl.r1.s5_rejection`),
then curation and SFT again.

- :class:`Trace`: one completion of one problem with everything that judges it: made by the cold-start pools and by
  rejection sampling (:func:`make_record`), filtered by curation, turned into SFT records.
- :class:`SFTRecord`: a prompt/completion pair, the input of :func:`minirl.r1.s3_sft.run_sft`, made from traces by
  :func:`minirl.r1.sft_records.to_sft_records` with the exact RL prompt.

Both are typed dicts: plain ``dict`` objects at run time, so they are JSON as they are (pools and reports are
saved) and the curation filters read them by key.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Trace(TypedDict, total=False):
    """One completion of one problem. Besides the keys below, a trace carries its problem's gold columns
    (``example.reward_kwargs()``: ``answer``, and ``nums``/``target``/``solution`` for countdown...), flattened,
    so that a reward or a curation filter reads them as the trainer passes them."""

    task: str
    """The task's name (:func:`minirl.tasks.task_class` gives its accuracy reward and gold columns)."""
    prompt_question: str
    """The problem as the prompt shows it (``Example.question``)."""
    answer: str
    """The gold final answer."""
    extra: dict[str, Any]
    """The problem's other gold columns as a dict (``Example.extra``), to rebuild its prompt."""
    kind: str
    """How the trace was made: a pool kind (``clean``, ``mixed_language``, ...) or ``sampled``."""
    completion: str
    """The text after the prompt's ``<think>``."""


class SFTRecord(TypedDict):
    """A prompt/completion pair for SFT: the exact RL prompt, and the completion with the EOS token."""

    prompt: str
    completion: str


def make_record(task: str, example: Any, kind: str, completion: str) -> Trace:
    """A :class:`Trace`: the problem, its gold columns (``example.reward_kwargs()``), ``kind`` and ``completion``."""
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
