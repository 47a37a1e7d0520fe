"""The records passed between the stages of the R1 pipeline, and the functions that make them.

1. cold-start data (:mod:`minirl.r1.s1_pool`) -> 2. curation (:mod:`minirl.r1.s2_curate`) -> 3. SFT
(:mod:`minirl.r1.s3_sft`) -> 4. RL (:mod:`minirl.r1.s4_grpo`) -> 5. rejection sampling (:mod:`minirl.r1.s5_rejection`),
then curation and SFT again.

- :class:`Trace`: one completion of one problem with everything that judges it: made by the cold-start pools and by
  rejection sampling (:func:`make_record`), filtered by curation, turned into SFT records.
- :class:`SFTRecord`: a prompt/completion pair, the input of :func:`minirl.r1.s3_sft.run_sft`, made from traces by
  :func:`to_sft_records` with the exact RL prompt.

Both are typed dicts: plain ``dict`` objects at run time, so they are JSON as they are (pools and reports are
saved) and the curation filters read them by key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import rewards
from minirl.tasks import Example, build_prompt


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


def to_sft_records(records: Sequence[Trace], tokenizer: Any, style: Any, task: Any) -> list[SFTRecord]:
    """Prompt-completion pairs for SFT: the exact RL prompt and the completion followed by the EOS token.

    The prompt is ``minirl.tasks.build_prompt`` of the record's problem, so SFT trains the distribution RL samples
    from. When the style does not prefill ``<think>``, the completion gets the opening tag itself (and loses it
    when the prompt has it already).

    >>> from minirl.r1.s1_pool import make_clean
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
            raise ValueError(
                f"to_sft_records: record #{i} lacks {missing}; make them with minirl.r1.s1_pool.make_pool()"
            )
        example = Example(
            question=rec["prompt_question"], answer=rec["answer"], extra=dict(rec.get("extra") or {})
        )
        prompt = build_prompt(example, tokenizer, style, task=task)
        completion = rec["completion"]
        think = rewards.THINK_OPEN
        prefilled, opened = prompt.rstrip().endswith(think), completion.lstrip().startswith(think)
        if prefilled and opened:  # a sampled trace that re-opened the block: keep one <think>
            completion = completion.lstrip()[len(think) :].lstrip()
        elif not prefilled and not opened:
            completion = f"{think}\n{completion}"
        if not completion.endswith(eos):
            completion += eos
        out.append({"prompt": prompt, "completion": completion})
    return out
