"""The R1 pipeline: cold-start data (curated vs raw), the mixing metrics, and 2-step smokes of both recipes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import minirl.r1.pipeline as pipeline
from minirl.config_checks import ConfigError
from minirl.r1.config import ColdStartConfig, LanguageMixingConfig, MixingConfig, RejectionConfig
from minirl.r1.mixing import ARMS, _training_mix, accuracy_by_mode, arm_config, has_code, mixing_metrics
from minirl.r1.pipeline import cold_start_data, rejection_round
from minirl.r1.s2_curate import CurationReport
from minirl.r1.s5_rejection import Policy
from minirl.tasks import PromptStyle, get_task

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--run.max_steps",
    "2",
    "--rollout.max_new_tokens",
    "12",
    "--rollout.num_generations",
    "4",
    "--rollout.prompts_per_step",
    "1",
    "--run.preflight",
    "false",
    "--checkpoint.save_model",
    "false",
    "--cold_start.num_examples",
    "16",
    "--cold_start.batch_size",
    "4",
    "--cold_start.max_length",
    "900",  # the byte tokenizer spends one token per character of the ~560-character prompt
]


def _import_recipe(name: str):
    sys.path.insert(0, str(ROOT / "recipes"))
    try:
        return __import__(name)
    finally:
        sys.path.pop(0)


def test_curated_records_drop_every_defect_and_raw_records_keep_them(tiny_tokenizer):
    task = get_task("arithmetic", num_terms=2, max_digits=2, ops="+-")
    cfg = ColdStartConfig(num_examples=40)
    style = PromptStyle()
    raw_data = cold_start_data(cfg, task, tiny_tokenizer, style, curated=False)
    cur_data = cold_start_data(cfg, task, tiny_tokenizer, style, curated=True)
    (raw, raw_info), (cur, cur_info) = (
        (raw_data.records, raw_data.info()),
        (cur_data.records, cur_data.info()),
    )
    assert len(raw) == 40 and raw_info["pool_kinds"]["mixed_language"] == 12  # 0.3 * 40
    assert "curation" not in raw_info
    report = cur_info["curation"]
    assert report["kept"] == len(cur) == cur_info["num_records"] < len(raw)
    dropped = {f["name"]: f["dropped_by_kind"] for f in report["filters"]}
    assert dropped["language"] == {"mixed_language": 12, "code_in_reasoning": 6}
    assert all(rec["prompt"].endswith("<think>\n") for rec in cur)
    assert sum("。" in rec["completion"] for rec in raw) >= 10 and not any(
        "。" in rec["completion"] for rec in cur
    )


def test_mixing_metrics_count_sampled_completions_per_problem():
    clean = "<think>First, 2 + 3 = 5. So the answer is 5.</think>\n<answer>5</answer>"
    mixed = "<think>First, 2 + 3 = 5. 因此答案是 5。</think>\n<answer>5</answer>"
    code = "<think>Let me compute.\nx = 2 + 3\nprint(x)</think>\n<answer>5</answer>"
    records = [
        {  # greedy first (ignored by the sampled metrics), then 4 samples
            "completions": [mixed, clean, mixed, code, "no tags"],
            "correct": [0.0, 1.0, 1.0, 1.0, 0.0],
            "format": [1.0, 1.0, 1.0, 1.0, 0.0],
            "target_share": [0.5, 1.0, 0.6, 0.4, 1.0],
        },
        {
            "completions": [clean, clean, clean, clean, clean],
            "correct": [1.0] * 5,
            "format": [1.0] * 5,
            "target_share": [1.0] * 5,
        },
    ]
    m = mixing_metrics(records)
    assert m["accuracy"].value == pytest.approx((0.75 + 1.0) / 2)
    assert m["greedy_accuracy"].value == pytest.approx(0.5)
    assert m["mixed_rate"].value == pytest.approx((2 / 4 + 0) / 2)
    assert m["code_rate"].value == pytest.approx((1 / 4 + 0) / 2)
    assert m["format_rate"].value == pytest.approx((3 / 4 + 1) / 2)
    assert m["mixed_rate"].n == 2 and m["mixed_rate"].low <= m["mixed_rate"].value <= m["mixed_rate"].high
    assert has_code(code) and not has_code(mixed)
    with pytest.raises(ValueError, match="no eval records"):
        mixing_metrics([])


def test_arm_configs_differ_only_in_start_model_and_language_reward(tmp_path):
    cfg = LanguageMixingConfig()
    cfg.grpo.rewards = {"accuracy": 1.0, "format": 1.0}
    cfg.data.one_shot = False
    a = arm_config(cfg, ARMS["uncurated"], "sft_raw", tmp_path)
    b = arm_config(cfg, ARMS["curated"], "sft_curated", tmp_path)
    c = arm_config(cfg, ARMS["r1_zero"], None, tmp_path)
    assert a.grpo.rewards == c.grpo.rewards == {"accuracy": 1.0, "format": 1.0}
    assert b.grpo.rewards == {"accuracy": 1.0, "format": 1.0, "language_consistency": 1.0}
    assert (a.model.name, b.model.name, c.model.name) == ("sft_raw", "sft_curated", cfg.model.name)
    assert a.rollout == b.rollout == c.rollout and a.optim == b.optim and a.run.seed == b.run.seed
    # Only the no-SFT arm sees the worked example: a base model emits no tags without it.
    assert (a.data.one_shot, b.data.one_shot, c.data.one_shot) == (False, False, True)
    assert cfg.grpo.rewards == {"accuracy": 1.0, "format": 1.0}  # the shared config is not mutated


@pytest.mark.parametrize(
    "section, values, message",
    [
        (MixingConfig, {"arms": ["uncurated", "bogus"]}, "unknown arm"),
        (ColdStartConfig, {"mixed_language": 0.9}, "sum to"),
        (ColdStartConfig, {"language_threshold": 0.0}, "language_threshold"),
        (ColdStartConfig, {"mixed_strategy": "abacus"}, "mixed_strategy"),
        (RejectionConfig, {"samples_per_prompt": 0}, "samples_per_prompt"),
    ],
)
def test_pipeline_config_errors_name_the_field(section, values, message):
    with pytest.raises(ConfigError, match=message):
        section(**values)


def test_language_mixing_recipe_two_step_smoke(tmp_path, tiny_model_dir):
    recipe = _import_recipe("language_mixing")
    out = tmp_path / "lm"
    argv = ["--model.name", str(tiny_model_dir), "--run.output_dir", str(out), *TINY]
    argv += ["--mixing.eval_size", "2", "--mixing.eval_k", "2"]
    summaries = recipe.main(argv)
    assert [s["arm"] for s in summaries] == ["uncurated", "curated", "r1_zero"]
    for s in summaries:
        run = out / s["arm"]
        assert (run / "arm.json").exists() and (run / "report.md").exists()
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows if r.get("type", "train") == "train"] == [1, 2]
        assert set(s["after_rl"]) >= {"accuracy", "mixed_rate", "target_share", "code_rate"}
        by_mode = s["accuracy_by_mode"]["after_rl"]
        assert by_mode["target"]["n"] + by_mode["mixed"]["n"] <= 2 * 2  # eval_size x eval_k samples
    assert (
        "language_consistency" in summaries[1]["rewards"]
        and "language_consistency" not in summaries[0]["rewards"]
    )
    for kind in ("raw", "curated"):
        info = json.loads((out / f"cold_start_{kind}" / "cold_start.json").read_text())
        assert info["data"]["curated"] is (kind == "curated")
    table = (out / "comparison.md").read_text()
    assert "A uncurated" in table and "B curated" in table and "C R1-Zero" in table
    assert "| target language, before RL | mixed, before RL |" in table
    assert (out / "plots" / "curves.png").stat().st_size > 0
    # A second run reuses the finished cold starts instead of training them again.
    stamp = (out / "cold_start_raw" / "model.safetensors").stat().st_mtime_ns
    recipe.main([*argv, "--mixing.arms", "[uncurated]", "--run.overwrite", "true"])
    assert (out / "cold_start_raw" / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("language", ["de", "zh"])
def test_language_drift_recipe_two_step_smoke_of_each_arm(tmp_path, tiny_model_dir, language):
    recipe = _import_recipe("language_drift")
    out = tmp_path / "drift"
    argv = ["--model.name", str(tiny_model_dir), "--run.output_dir", str(out), *TINY]
    argv += ["--mixing.eval_size", "2", "--mixing.eval_k", "2", "--data.language", language]
    summaries = recipe.main(argv)
    assert [s["arm"] for s in summaries] == ["r1_zero", "r1_zero_language"]  # Z, ZL
    assert (
        "language_consistency" in summaries[1]["rewards"]
        and "language_consistency" not in summaries[0]["rewards"]
    )
    assert summaries[0]["before_rl"] == summaries[1]["before_rl"]  # the base model's measurement, reused
    for s in summaries:
        rows = [json.loads(x) for x in (out / s["arm"] / "metrics.jsonl").read_text().splitlines()]
        train = [r for r in rows if r.get("type", "train") == "train"]
        assert [r["step"] for r in train] == [1, 2]
        assert all("language/target_share" in r and "language/english_share" in r for r in train)
        prompt = json.loads((out / s["arm"] / "eval_samples.jsonl").read_text().splitlines()[0])["prompt"]
        assert "What is" not in prompt and "Think" not in prompt  # the prompt is in the target language
    rows = json.loads((out / "summary.json").read_text())
    keys = {"arm", "seed", "language", "target_share_before", "target_share_after", "mixed_rate_before"}
    keys |= {
        "mixed_rate_after",
        "accuracy_before",
        "accuracy_after",
        "accuracy_after_low",
        "accuracy_after_high",
    }
    assert [(r["arm"], r["arm_name"]) for r in rows] == [("Z", "r1_zero"), ("ZL", "r1_zero_language")]
    for r in rows:
        assert keys | {"minutes"} <= set(r) and r["language"] == language and r["seed"] == 42
        assert r["accuracy_after_low"] <= r["accuracy_after"] <= r["accuracy_after_high"]


def test_r1_recipe_two_step_smoke_with_rejection_round(tmp_path, tiny_model_dir):
    recipe = _import_recipe("r1")
    out = tmp_path / "r1"
    argv = ["--model.name", str(tiny_model_dir), "--run.output_dir", str(out), *TINY]
    argv += ["--data.eval_size", "2", "--eval.k", "1", "--rejection.enabled", "true"]
    argv += ["--rejection.num_prompts", "4", "--rejection.samples_per_prompt", "2"]
    trainer = recipe.main(argv)
    assert trainer.step == 2
    assert trainer.reward_set.names == ["accuracy", "format", "language_consistency"]
    assert (out / "cold_start" / "cold_start.json").exists() and (out / "pipeline.yaml").exists()
    result = json.loads((out / "rejection" / "rejection.json").read_text())
    assert result["sampled"] == 8 and result["kept"] <= 8  # a random 2-layer model keeps ~nothing


def test_accuracy_by_mode_splits_samples_by_language_and_skips_the_greedy_one():
    records = [
        # greedy first (ignored), then samples: English right, English wrong, mixed right, no words
        {"completions": ["g", "a", "b", "c", "d"], "correct": [0.0, 1.0, 0.0, 1.0, 1.0],
         "target_share": [0.0, 1.0, 0.96, 0.5, None]},
        {"completions": ["g", "e"], "correct": [1.0, 0.0], "target_share": [1.0, 0.1]},
    ]  # fmt: skip
    assert accuracy_by_mode(records) == {
        "target": {"n": 2, "accuracy": 0.5},
        "mixed": {"n": 2, "accuracy": 0.5},
    }
    assert accuracy_by_mode([])["mixed"] == {"n": 0, "accuracy": None}


def test_training_mix_skips_steps_without_words(tmp_path):
    # A step whose samples had no word to judge logs null (NaN in older logs); it must not turn the mean into NaN.
    rows = [
        {"type": "train", "step": 1, "language/mixed_rate": 0.5},
        {"type": "train", "step": 2, "language/mixed_rate": None},
        {"type": "eval", "step": 2, "language/mixed_rate": 1.0},
        {"type": "train", "step": 3, "language/mixed_rate": 0.0},
    ]
    (tmp_path / "metrics.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows)
        + '\n{"type": "train", "step": 4, "language/mixed_rate": NaN}\n'
    )
    mix = _training_mix(tmp_path, window=5)
    assert mix["first_steps"] == mix["last_steps"] == 0.25
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps({"type": "train", "step": 1, "language/mixed_rate": None}) + "\n"
    )
    assert _training_mix(tmp_path)["first_steps"] is None


def test_rejection_round_fine_tunes_the_whole_model_after_a_lora_run(tmp_path, tiny_model_dir, monkeypatch):
    # The R1 recipe's RL stage trains a LoRA adapter; stage 5 must fine-tune (and save) the merged model, with its
    # weights trainable again, not the adapter-wrapped policy whose base peft froze.
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    policy = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraConfig(r=2, target_modules="all-linear")
    )
    assert not any(p.requires_grad for n, p in policy.named_parameters() if "lora_" not in n)
    task = get_task("arithmetic")
    report = CurationReport(total=2, kept=1, filters=[])
    seen = {}
    monkeypatch.setattr(
        pipeline,
        "rejection_keep",
        lambda policy, examples, sampling, **k: seen.update(sampling=sampling) or (["a kept trace"], report),
    )
    monkeypatch.setattr(pipeline, "to_sft_records", lambda kept, *a: [{"prompt": "p", "completion": "c"}])

    def fake_sft(model, tokenizer, records, out, **kwargs):
        seen["model"] = model
        return {"train_loss": 0.0}

    monkeypatch.setattr(pipeline, "run_sft", fake_sft)
    result = rejection_round(
        RejectionConfig(num_prompts=2, samples_per_prompt=1),
        tmp_path / "rej",
        Policy(policy, AutoTokenizer.from_pretrained(tiny_model_dir), task, PromptStyle()),
        max_new_tokens=8,
    )
    model = seen["model"]
    assert seen["sampling"].max_new_tokens == 8
    assert not hasattr(model, "peft_config") and not any("lora_" in n for n, _ in model.named_parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert result.kept == 1 and json.loads((tmp_path / "rej" / "rejection.json").read_text())["kept"] == 1
