"""Rejection sampling (R1 pipeline stage 5, minirl.r1.s5_rejection) with a stubbed and with the real sampler."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch

import minirl.r1.s5_rejection
from minirl.r1.s2_curate import curate, keep_correct, keep_format, keep_language
from minirl.r1.s5_rejection import Policy, Sampling, rejection_keep, rejection_sample, sample_candidates
from minirl.tasks import PromptStyle, build_prompt, get_task

SHORT = PromptStyle(template="plain", chat=False)  # question-only prompts keep sequences short on CPU


@pytest.fixture(scope="module")
def arithmetic():
    return get_task("arithmetic")


def _fake_generate(answers: dict[str, str], calls: list):
    """A stand-in for ``generate``: for each prompt, k known completions (good, mixed, wrong, broken, code)."""

    def fake(
        model,
        tokenizer,
        prompts,
        num_generations=1,
        max_new_tokens=64,
        temperature=1.0,
        top_p=1.0,
        stop_strings=(),
        generator=None,
    ):
        calls.append({"n": len(prompts), "k": num_generations, "stop": stop_strings})
        texts = []
        for prompt in prompts:
            a = answers[prompt]
            options = [
                f"Adding the numbers gives {a}.\n</think>\n<answer>{a}</answer>",
                f"相加得到 {a}。\n</think>\n<answer>{a}</answer>",
                f"Adding the numbers gives {a}1.\n</think>\n<answer>{a}1</answer>",
                f"Adding the numbers gives {a}.\n<answer>{a}",
                f"Let me use code.\nresult_value = {a}\nprint(result_value)\n</think>\n<answer>{a}</answer>",
            ]
            texts += options[:num_generations]
        return SimpleNamespace(texts=texts, num_generations=num_generations)

    return fake


def test_rejection_sample_keeps_only_correct_clean_traces(arithmetic, tiny_tokenizer, monkeypatch):
    examples = arithmetic.examples("train", n=3, seed=1)
    style = PromptStyle()
    answers = {build_prompt(ex, tiny_tokenizer, style, task=arithmetic): ex.answer for ex in examples}
    calls: list = []
    monkeypatch.setattr(minirl.r1.s5_rejection, "generate", _fake_generate(answers, calls))
    model = torch.nn.Linear(1, 1)  # never run: generate is stubbed
    policy = Policy(model, tiny_tokenizer, arithmetic, style)

    sft = rejection_sample(policy, examples, Sampling(k=5, batch_size=2))
    assert calls == [{"n": 2, "k": 5, "stop": ("</answer>",)}, {"n": 1, "k": 5, "stop": ("</answer>",)}]
    assert len(sft) == len(examples)  # one good trace of five per problem
    for record, ex in zip(sft, examples):
        assert record["prompt"] == build_prompt(ex, tiny_tokenizer, style, task=arithmetic)
        completion = record["completion"].removesuffix(tiny_tokenizer.eos_token)
        gold = {"task": "arithmetic", "answer": ex.answer, "completion": completion}
        assert keep_format(gold) and keep_correct(gold) and keep_language(gold)
        assert re.search(r"gives -?\d+\.", completion)

    candidates = sample_candidates(policy, examples, Sampling(k=5))
    assert [r["kind"] for r in candidates] == ["sampled"] * 15
    _, report = curate(candidates)
    assert (
        report.dropped["language"] == 6 and report.dropped["format"] == 3 and report.dropped["correct"] == 3
    )
    assert rejection_sample(policy, examples, Sampling(k=1), max_per_problem=1) == sft
    kept, keep_report = rejection_keep(policy, examples, Sampling(k=5))
    assert keep_report.to_dict() == report.to_dict()  # the counts rejection_round writes
    assert keep_report.total == 15 and len(kept) == keep_report.kept == len(sft)


def test_rejection_sample_with_the_tiny_model_returns_only_passing_records(
    arithmetic, tiny_model, tiny_tokenizer
):
    examples = arithmetic.examples("train", n=2, seed=0)
    policy, sampling = Policy(tiny_model, tiny_tokenizer, arithmetic, SHORT), Sampling(k=2, max_new_tokens=8)
    candidates = sample_candidates(policy, examples, sampling)
    assert len(candidates) == 4 and {r["prompt_question"] for r in candidates} == {
        ex.question for ex in examples
    }
    sft = rejection_sample(policy, examples, sampling)
    for record in sft:  # a random model almost never passes; whatever does must pass every filter
        completion = record["completion"].removesuffix(tiny_tokenizer.eos_token)
        assert keep_format({"completion": completion}) and keep_language({"completion": completion})


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"k": 0}, "Sampling.k must be >= 1, got 0"),
        ({"batch_size": 0}, "Sampling.batch_size must be >= 1, got 0"),
        ({"max_new_tokens": 0}, "Sampling.max_new_tokens must be >= 1, got 0"),
        ({"temperature": -0.1}, "Sampling.temperature must be >= 0, got -0.1"),
        ({"top_p": 0.0}, "Sampling.top_p must be in (0, 1], got 0.0"),
    ],
)
def test_sampling_is_checked_when_made_not_when_used(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Sampling(**fields)
    assert Sampling(temperature=0.0).temperature == 0.0  # greedy is allowed
