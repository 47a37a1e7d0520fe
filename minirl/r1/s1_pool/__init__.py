"""Synthetic cold-start data: clean chain-of-thought traces and an "uncurated" pool (DeepSeek-R1, sec. 2.3.1).

R1-Zero's reasoning mixed languages and was hard to read; R1 fixed it with "a small amount of long CoT data" as a
cold start, built with a pattern that "filters out responses that are not reader-friendly". We reproduce the
*situation* offline and seeded, for tasks whose answers are known:

- :func:`make_pool` renders, for each problem, one completion of a kind drawn from :class:`PoolConfig`:
  ``clean`` (English step-by-step reasoning, right answer, good tags), ``mixed_language`` (switches from English to
  Chinese with a Russian sentence, R1-Zero style), ``code_in_reasoning`` (the reasoning turns into Python),
  ``broken_tags``, ``wrong_answer``, ``repetition`` (a loop) and ``duplicate`` (a near copy of another record).

Everything is synthetic: the phrase banks (``phrases``) are short sentences written for this project (English, Chinese,
Russian), the reasoning is derived from each problem's own numbers, and GSM8K traces are the dataset's reference
solution reformatted. See ``docs/cold_start_data.md``.

Departure, on purpose: the mixed-language and code traces are *correct* by default (right answer, good tags,
``PoolConfig.mixed_traces_correct``). A correctness-only RL reward then pays the mixed mode as much as the clean
one, so mixing that the uncurated SFT put in can grow during RL, as in R1-Zero, unless a language reward or
curation removes it.

Stage 1 of the R1 pipeline (``docs/architecture.md``); the traces are :class:`minirl.r1.records.Trace` dicts, which
curation (stage 2, :mod:`minirl.r1.s2_curate`) filters and :func:`minirl.r1.records.to_sft_records` turns into SFT
records. Modules: ``phrases`` (the phrase banks), ``plans`` (a problem's worked solution, from its task), ``render`` (one trace of a
kind), ``pool`` (the shares and the seeded pool).
"""

from minirl.r1.records import Trace, make_record
from minirl.r1.s1_pool.phrases import PHRASES, Step, counting_languages, mixed_languages, render_steps
from minirl.r1.s1_pool.plans import MAX_COUNT, PLANNERS, Plan, arithmetic_plan, countdown_plan, gsm8k_plan
from minirl.r1.s1_pool.pool import CLEAN_ONLY, TASKS, PoolConfig, allocate, make_clean, make_pool
from minirl.r1.s1_pool.render import KINDS, STRATEGIES, render_trace

__all__ = [
    "CLEAN_ONLY",
    "KINDS",
    "MAX_COUNT",
    "PHRASES",
    "PLANNERS",
    "STRATEGIES",
    "TASKS",
    "Plan",
    "PoolConfig",
    "Step",
    "Trace",
    "allocate",
    "arithmetic_plan",
    "countdown_plan",
    "counting_languages",
    "gsm8k_plan",
    "make_clean",
    "make_pool",
    "make_record",
    "mixed_languages",
    "render_steps",
    "render_trace",
]
