"""SFT on the tiny model: tokenization as RL tokenizes, training, saving, errors."""

from __future__ import annotations

import json

import pytest
import torch

from minirl.config import ModelConfig
from minirl.r1.records import to_sft_records
from minirl.r1.s1_pool import make_clean
from minirl.r1.s3_sft import _tokenize_records, run_sft
from minirl.tasks import PromptStyle, get_task

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
        lora=ModelConfig(lora=True, lora_r=4, lora_alpha=8),
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
