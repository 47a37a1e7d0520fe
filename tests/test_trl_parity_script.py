"""benchmarks/trl_parity.py: minirl's side runs the single-digit reference work (r1_zero_reference_1digit.yaml)
with the levers the script exposes, and its summary averages the windows the docs quote. (The runs themselves
take ~30 min: docs/trl_parity.md.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import trl_parity  # noqa: E402

from minirl.config_checks import ConfigError  # noqa: E402


@pytest.mark.parametrize("temperature,lora", [(1.0, False), (0.5, True)])
def test_minirl_side_is_the_reference_work(tmp_path, temperature, lora):
    cfg = trl_parity.minirl_config(tmp_path, steps=40, seed=42, temperature=temperature, lora=lora)
    assert cfg.data.task == "arithmetic" and cfg.data.task_args == {"num_terms": 2, "max_digits": 1}
    assert cfg.data.one_shot and cfg.data.prefill_think
    assert cfg.grpo.rewards == trl_parity.REWARDS
    assert (cfg.grpo.beta, cfg.grpo.loss_type, cfg.optim.lr) == (0.0, "dapo", 3e-5)
    assert (cfg.rollout.prompts_per_step, cfg.rollout.num_generations, cfg.rollout.max_new_tokens) == (
        1,
        8,
        64,
    )
    assert not cfg.rollout.stop_at_answer  # TRL stops at EOS only
    assert cfg.rollout.temperature == temperature and cfg.model.lora is lora
    assert (cfg.model.lora_r, cfg.model.lora_alpha, cfg.model.lora_dropout) == (16, 32, 0.0)  # as TRL's side
    assert cfg.run.max_steps == 40 and cfg.run.seed == 42 and cfg.run.output_dir == str(tmp_path)
    assert not cfg.grpo.dynamic_sampling


def test_minirl_only_overrides_come_last(tmp_path):
    extra = ["--grpo.dynamic_sampling", "true", "--grpo.scale_rewards", "none"]
    cfg = trl_parity.minirl_config(tmp_path, steps=3, seed=1, extra=extra)
    assert cfg.grpo.dynamic_sampling and cfg.grpo.scale_rewards == "none"
    with pytest.raises(ConfigError, match="grpo.scale_rewards"):  # named before any model is loaded
        trl_parity.minirl_config(tmp_path, steps=3, seed=1, extra=["--grpo.scale_rewards", "sometimes"])


def test_summary_averages_the_plateau_window(tmp_path):
    rows = [
        {
            "type": "train",
            "step": s,
            "format_rate": 0.5 if s <= 5 else 1.0,
            "accuracy": float(s > 20),
            "step_time": 2.0,
        }
        for s in range(1, 41)
    ]
    rows.insert(3, {"type": "eval", "step": 4, "accuracy": 0.0})  # not a training row: ignored
    (tmp_path / "minirl").mkdir()
    (tmp_path / "minirl" / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    summary = trl_parity.summarize(tmp_path)
    assert set(summary) == {"minirl"}  # no TRL run in this folder
    got = summary["minirl"]
    assert got["steps"] == 40
    assert got["format_rate_steps_1_5"] == 0.5
    assert got["format_rate_steps_21_40"] == 1.0 and got["accuracy_steps_21_40"] == 1.0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_plateau_table_has_a_row_per_run(tmp_path):
    for name, acc in (("a", 1.0), ("b", 0.25)):
        (tmp_path / name).mkdir()
        rows = [{"step": s, "format_rate": 1.0, "accuracy": acc} for s in range(1, 41)]
        (tmp_path / name / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    table = trl_parity.plateau_table([tmp_path / "a", tmp_path / "b"]).splitlines()
    assert len(table) == 4
    assert table[2] == "| a | 40 | 1.00 | 1.00 | 1.00 | 1.00 |"
    assert table[3] == "| b | 40 | 1.00 | 1.00 | 0.25 | 0.25 |"
