"""SFT records: the cold-start (or rejection-sampled) traces as prompt/completion pairs for :func:`run_sft`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minirl.r1.records import SFTRecord, Trace
from minirl.tasks import Example, build_prompt


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
        prefilled, opened = prompt.rstrip().endswith("<think>"), completion.lstrip().startswith("<think>")
        if prefilled and opened:  # a sampled trace that re-opened the block: keep one <think>
            completion = completion.lstrip()[len("<think>") :].lstrip()
        elif not prefilled and not opened:
            completion = "<think>\n" + completion
        if not completion.endswith(eos):
            completion += eos
        out.append({"prompt": prompt, "completion": completion})
    return out
