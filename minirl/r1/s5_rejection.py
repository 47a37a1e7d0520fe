"""Stage 5 of the R1 pipeline, rejection sampling (R1 paper, sec. 2.3.3): SFT data from the RL model's own samples.

R1 samples from the RL checkpoint, keeps "only the correct responses" after filtering out "chain-of-thought with
mixed languages, long paragraphs, and code blocks", and fine-tunes again on them. Here: :func:`sample_candidates`
samples ``k`` completions per problem from a :class:`Policy` (with :class:`Sampling`'s settings) as
:class:`~minirl.r1.records.Trace` records (``kind="sampled"``), the curation filters of :mod:`minirl.r1.s2_curate`
keep the good ones (:func:`rejection_keep`), and :func:`rejection_sample` returns them as SFT records for
:func:`minirl.r1.s3_sft.run_sft`.

Departure: R1 keeps ~600k samples; at our scale it is hundreds, from the same task and prompt template as RL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

import rewards
from minirl.config_checks import _check, at_least
from minirl.r1.records import SFTRecord, Trace, make_record, to_sft_records
from minirl.r1.s2_curate import DEFAULT_FILTERS, CurationReport, FilterFn, curate
from minirl.rollout.generate import generate
from minirl.tasks import build_prompt


@dataclass(frozen=True)
class Policy:
    """What stage 5 samples from: the RL policy and how its prompts are made (the RL run's own)."""

    model: Any
    """The policy, without accelerate's wrapper (``GRPOTrainer.unwrapped``)."""
    tokenizer: Any
    """Its tokenizer."""
    task: Any
    """The task (a :class:`~minirl.tasks.Task` or its name) whose problems are sampled and judged."""
    style: Any
    """The prompt template (:class:`~minirl.tasks.PromptStyle`)."""


@dataclass(frozen=True)
class Sampling:
    """How many completions stage 5 samples per problem, and how (``minirl.rollout.generate``'s settings)."""

    k: int = 4
    """Completions per problem (>= 1)."""
    max_new_tokens: int = 256
    """The completion cap (>= 1)."""
    temperature: float = 0.7
    """The sampling temperature (0 = greedy)."""
    top_p: float = 1.0
    """The nucleus threshold, in (0, 1]."""
    batch_size: int = 8
    """Problems per ``generate`` call (>= 1); each gives ``k`` completions."""
    seed: int = 0
    """The seed of the sampling generator."""

    def __post_init__(self) -> None:
        at_least("Sampling", self, k=1, max_new_tokens=1, batch_size=1, temperature=0)
        _check(0 < self.top_p <= 1, f"Sampling.top_p must be in (0, 1], got {self.top_p}")


def sample_candidates(
    policy: Policy, examples: Sequence[Any], sampling: Sampling = Sampling()
) -> list[Trace]:
    """Sample ``sampling.k`` completions per problem; each becomes a record (``kind="sampled"``) for :func:`curate`.

    Records carry the problem's gold columns, so the curation filters can judge them. Sampling uses
    ``minirl.rollout.generate`` (stops at ``</answer>`` or EOS) with a generator seeded by ``sampling.seed``.
    """
    k, batch_size = sampling.k, sampling.batch_size
    model, tokenizer, task, style = policy.model, policy.tokenizer, policy.task, policy.style
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(sampling.seed)
    task_name = task if isinstance(task, str) else task.name
    out: list[Trace] = []
    for start in range(0, len(examples), batch_size):
        chunk = list(examples[start : start + batch_size])
        prompts = [build_prompt(ex, tokenizer, style, task=task) for ex in chunk]
        rollout = generate(
            model,
            tokenizer,
            prompts,
            num_generations=k,
            max_new_tokens=sampling.max_new_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            stop_strings=(rewards.ANSWER_CLOSE,),
            generator=generator,
        )
        for row, text in enumerate(rollout.texts):  # rows are grouped by prompt, k per prompt
            out.append(make_record(task_name, chunk[row // k], "sampled", text))
    return out


def rejection_keep(
    policy: Policy,
    examples: Sequence[Any],
    sampling: Sampling = Sampling(),
    *,
    filters: Iterable[FilterFn | tuple[str, FilterFn]] = DEFAULT_FILTERS,
    max_per_problem: int | None = None,
) -> tuple[list[Trace], CurationReport]:
    """Sample ``sampling.k`` completions per problem and curate them: the kept pool records and the curation report.

    The report counts every sampled completion (``report.total``) and what each filter dropped; the cap per
    problem applies after curation. Arguments as :func:`rejection_sample`.
    """
    kept, report = curate(sample_candidates(policy, examples, sampling), filters)
    if max_per_problem is not None:
        kept = cap_per_problem(kept, max_per_problem)
    return kept, report


def rejection_sample(
    policy: Policy,
    examples: Sequence[Any],
    sampling: Sampling = Sampling(),
    *,
    filters: Iterable[FilterFn | tuple[str, FilterFn]] = DEFAULT_FILTERS,
    max_per_problem: int | None = None,
) -> list[SFTRecord]:
    """R1's rejection sampling: sample ``sampling.k`` completions per problem, keep those every filter keeps, as SFT
    records.

    By default a kept trace is correct, well formed, single-language (code counts against), not a loop and not a
    near copy of another kept trace (:data:`minirl.r1.s2_curate.DEFAULT_FILTERS`). For the counts per filter,
    call :func:`rejection_keep`, which this wraps.

    Args:
        policy: the RL policy, its tokenizer, task and prompt template.
        examples: the problems to sample.
        sampling: completions per problem and the sampling settings.
        filters: the curation filters (:func:`minirl.r1.s2_curate.curate`'s).
        max_per_problem: keep at most this many traces per problem (None = all that pass).

    Returns:
        ``{"prompt", "completion"}`` records (:func:`minirl.r1.records.to_sft_records`), ready for :func:`run_sft`;
        possibly empty.
    """
    kept, _ = rejection_keep(policy, examples, sampling, filters=filters, max_per_problem=max_per_problem)
    return to_sft_records(kept, policy.tokenizer, policy.style, policy.task)


def cap_per_problem(records: list[Trace], cap: int) -> list[Trace]:
    """The first ``cap`` records of each problem (``prompt_question``), in input order.

    >>> [r["i"] for r in cap_per_problem([{"prompt_question": "q", "i": i} for i in range(3)], 2)]
    [0, 1]
    """
    if cap < 1:
        raise ValueError(f"max_per_problem must be >= 1, got {cap}")
    counts: dict[str, int] = {}
    out = []
    for rec in records:
        n = counts.get(rec["prompt_question"], 0)
        if n < cap:
            out.append(rec)
            counts[rec["prompt_question"]] = n + 1
    return out
