"""Cold-start SFT on the tiny model, and rejection sampling (with a stubbed and with the real sampler)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
import torch

import minirl.rollout.generate as generate_module
from minirl.curation import curate, keep_correct, keep_format, keep_language
from minirl.sft import (
    make_clean,
    rejection_keep,
    rejection_sample,
    run_sft,
    sample_candidates,
    to_sft_records,
)
from minirl.sft.train import _tokenize_records
from minirl.tasks import PromptStyle, build_prompt, get_task

SHORT = PromptStyle(template="plain", chat=False)  # question-only prompts keep sequences short on CPU


@pytest.fixture(scope="module")
def arithmetic():
    return get_task("arithmetic")


def short_records(task, tokenizer, n=16):
    return to_sft_records(make_clean(task, task.examples("train", n=n, seed=0)), tokenizer, SHORT, task)


def test_tokenization_masks_the_prompt_and_ends_with_eos(arithmetic, tiny_tokenizer):
    records = short_records(arithmetic, tiny_tokenizer, n=2)
    rows, truncated = _tokenize_records(records, tiny_tokenizer, max_length=None, what="train")
    for row, rec in zip(rows, records):
        n_prompt = len(tiny_tokenizer(rec["prompt"], add_special_tokens=False)["input_ids"])
        assert row["completion_mask"][:n_prompt] == [0] * n_prompt
        assert set(row["completion_mask"][n_prompt:]) == {1}
        assert row["input_ids"][-1] == tiny_tokenizer.eos_token_id
        assert row["input_ids"].count(tiny_tokenizer.eos_token_id) == 1  # the EOS text became the EOS token
    assert truncated == 0
    assert _tokenize_records(records, tiny_tokenizer, max_length=40, what="train")[1] == 2
    with pytest.raises(ValueError, match="prompt alone"):
        _tokenize_records(records, tiny_tokenizer, max_length=5, what="train")
    with pytest.raises(ValueError, match="record #0"):
        _tokenize_records([{"prompt": "q"}], tiny_tokenizer, max_length=None, what="train")


def test_sft_lowers_the_loss_and_saves(arithmetic, tiny_model, tiny_tokenizer, tmp_path):
    records = short_records(arithmetic, tiny_tokenizer)
    before = tiny_model.model.embed_tokens.weight.detach().clone()
    metrics = run_sft(
        tiny_model,
        tiny_tokenizer,
        records,
        tmp_path / "sft",
        epochs=3,
        lr=3e-3,
        batch_size=8,
        max_length=128,
        eval_records=records[:4],
        seed=0,
    )
    assert metrics["global_steps"] == 6 and len(metrics["loss_history"]) == 6
    assert metrics["loss_history"][-1] < metrics["loss_history"][0] - 0.3
    assert metrics["eval_loss_after"] < metrics["eval_loss_before"]
    assert not torch.equal(before, tiny_model.model.embed_tokens.weight)  # trained in place
    saved = tmp_path / "sft"
    assert (saved / "model.safetensors").exists() and (saved / "tokenizer_config.json").exists()
    assert json.loads((saved / "sft_metrics.json").read_text())["loss_history"] == metrics["loss_history"]


def test_sft_with_lora_merges_into_the_model(arithmetic, tiny_model, tiny_tokenizer, tmp_path):
    records = short_records(arithmetic, tiny_tokenizer, n=4)
    before = tiny_model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    metrics = run_sft(
        tiny_model,
        tiny_tokenizer,
        records,
        tmp_path / "lora",
        max_steps=2,
        lr=1e-2,
        batch_size=4,
        lora=True,
        lora_r=4,
        max_length=128,
    )
    assert metrics["global_steps"] == 2
    q_proj = tiny_model.model.layers[0].self_attn.q_proj
    assert type(q_proj) is torch.nn.Linear and not torch.equal(before, q_proj.weight)  # merged, adapter gone
    assert not any("lora" in name for name, _ in tiny_model.named_parameters())


def test_sft_refuses_empty_or_malformed_records(tiny_model, tiny_tokenizer, tmp_path):
    with pytest.raises(ValueError, match="no records"):
        run_sft(tiny_model, tiny_tokenizer, [], tmp_path)
    with pytest.raises(ValueError, match="record #0"):
        run_sft(tiny_model, tiny_tokenizer, [{"prompt": "q", "completion": ""}], tmp_path)


# ---------------------------------------------------------------------------------------------------------------------
# Rejection sampling


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
    monkeypatch.setattr(generate_module, "generate", _fake_generate(answers, calls))
    model = torch.nn.Linear(1, 1)  # never run: generate is stubbed

    sft = rejection_sample(model, tiny_tokenizer, arithmetic, examples, style, k=5, batch_size=2)
    assert calls == [{"n": 2, "k": 5, "stop": ("</answer>",)}, {"n": 1, "k": 5, "stop": ("</answer>",)}]
    assert len(sft) == len(examples)  # one good trace of five per problem
    for record, ex in zip(sft, examples):
        assert record["prompt"] == build_prompt(ex, tiny_tokenizer, style, task=arithmetic)
        completion = record["completion"].removesuffix(tiny_tokenizer.eos_token)
        gold = {"task": "arithmetic", "answer": ex.answer, "completion": completion}
        assert keep_format(gold) and keep_correct(gold) and keep_language(gold)
        assert re.search(r"gives -?\d+\.", completion)

    candidates = sample_candidates(model, tiny_tokenizer, arithmetic, examples, style, k=5)
    assert [r["kind"] for r in candidates] == ["sampled"] * 15
    _, report = curate(candidates)
    assert (
        report.dropped["language"] == 6 and report.dropped["format"] == 3 and report.dropped["correct"] == 3
    )
    assert rejection_sample(model, tiny_tokenizer, arithmetic, examples, style, k=1, max_per_problem=1) == sft
    kept, keep_report = rejection_keep(model, tiny_tokenizer, arithmetic, examples, style, k=5)
    assert keep_report.to_dict() == report.to_dict()  # the counts rejection_round writes
    assert keep_report.total == 15 and len(kept) == keep_report.kept == len(sft)


def test_rejection_sample_with_the_tiny_model_returns_only_passing_records(
    arithmetic, tiny_model, tiny_tokenizer
):
    examples = arithmetic.examples("train", n=2, seed=0)
    style = SHORT
    candidates = sample_candidates(
        tiny_model, tiny_tokenizer, arithmetic, examples, style, k=2, max_new_tokens=8
    )
    assert len(candidates) == 4 and {r["prompt_question"] for r in candidates} == {
        ex.question for ex in examples
    }
    sft = rejection_sample(tiny_model, tiny_tokenizer, arithmetic, examples, style, k=2, max_new_tokens=8)
    for record in sft:  # a random model almost never passes; whatever does must pass every filter
        completion = record["completion"].removesuffix(tiny_tokenizer.eos_token)
        assert keep_format({"completion": completion}) and keep_language({"completion": completion})
