"""The default R1-Zero run (recipes/configs/r1_zero_smollm2_cpu.yaml): a held-out split of at least 300 distinct
problems that training never sees, for every documented seed; tasks not trained on evaluated at the start and the
end, with a clear message for a bad setting; their table in report.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minirl.config import CheckpointConfig, DataConfig, EvalConfig, RolloutConfig, RunConfig, TrainConfig
from minirl.config_checks import ConfigError
from minirl.config_parse import parse_args
from minirl.tasks import get_task
from minirl.testing import changed
from minirl.trainer import GRPOTrainer
from minirl.trainer.report import write_report
from minirl.trainer.rundir import transfer_sets

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "recipes" / "configs" / "r1_zero_smollm2_cpu.yaml"


@pytest.mark.parametrize("seed", [42, 1, 2])
def test_default_heldout_split_is_large_distinct_and_never_trained_on(seed):
    cfg = changed(parse_args([], default_config=DEFAULT), run={"seed": seed})
    task = get_task(cfg.data.task, **cfg.data.task_args)
    # what GRPOTrainer draws: 10,000 training prompts (every train problem, then repeats) and eval_size test ones
    train = task.examples("train", n=10_000, seed=seed)
    held_out = task.examples("test", n=cfg.data.eval_size, seed=seed)
    keys = [task.key(ex) for ex in held_out]
    assert cfg.data.eval_size >= 300 and len(set(keys)) == len(keys) == cfg.data.eval_size
    assert not set(keys) & {task.key(ex) for ex in train}
    assert {task.split_of(ex) for ex in held_out} == {"test"}
    for name, (other, examples) in transfer_sets(cfg, seed).items():
        assert len({ex.question for ex in examples}) == len(examples) >= 196, name  # 3-term 1-digit: all 196
        assert {other.split_of(ex) for ex in examples} == {"test"}, name
        assert not {ex.question for ex in examples} & {ex.question for ex in train}, name


def test_default_evaluates_the_tasks_it_does_not_train_on():
    cfg = parse_args([], default_config=DEFAULT)
    specs = cfg.eval.transfer
    assert {s["task"] for s in specs.values()} == {"arithmetic"}
    assert {"num_terms": 3, "max_digits": 1} in [s["task_args"] for s in specs.values()]
    assert any(s["task_args"].get("ops") == "-" and s["task_args"]["max_digits"] == 2 for s in specs.values())
    assert cfg.eval.at_start and cfg.eval.at_end and cfg.eval.k == 8
    assert cfg.eval.temperature == cfg.rollout.temperature  # sampled pass@1 at the training temperature


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"bad name": {"task": "arithmetic"}}, "eval.transfer: name 'bad name'"),
        ({"sub": {"task_args": {"ops": "-"}}}, "eval.transfer.sub must be a mapping with 'task'"),
        (
            {"sub": {"task": "arithmetic", "size": 0}},
            r"eval.transfer.sub.size must be a positive integer, got 0",
        ),
        ({"sub": {"task": "arithmetic", "sizes": 3}}, "eval.transfer.sub must be a mapping"),
        ({"sub": {"task": "arithmetic", "task_args": 3}}, "eval.transfer.sub.task_args must be a mapping"),
    ],
)
def test_bad_transfer_settings_name_the_field(value, message):
    with pytest.raises(ConfigError, match=message):
        EvalConfig(transfer=value)


def test_a_bad_transfer_task_fails_before_training(tmp_path, tiny_model, tiny_tokenizer):
    transfer = {"sub": {"task": "arithmetic", "task_args": {"ops": "/"}}}
    cfg = TrainConfig(run=RunConfig(output_dir=str(tmp_path)), eval=EvalConfig(transfer=transfer))
    with pytest.raises(ValueError, match=r"eval.transfer.sub: arithmetic: ops must be"):
        GRPOTrainer(cfg, model=tiny_model, tokenizer=tiny_tokenizer)


def test_transfer_tasks_are_evaluated_at_start_and_end_and_reported(tmp_path, tiny_model, tiny_tokenizer):
    transfer = {"sub": {"task": "arithmetic", "task_args": {"ops": "-"}, "size": 5}}
    cfg = TrainConfig(
        run=RunConfig(output_dir=str(tmp_path), max_steps=1, preflight=False),
        rollout=RolloutConfig(num_generations=2, max_new_tokens=4),
        data=DataConfig(eval_size=3),
        eval=EvalConfig(at_start=True, k=1, transfer=transfer),
        checkpoint=CheckpointConfig(save_model=False),
    )
    trainer = GRPOTrainer(cfg, model=tiny_model, tokenizer=tiny_tokenizer)
    trainer.train()
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in evals if r.get("type") == "eval"]
    assert [r["when"] for r in evals] == ["start", "end"]
    for r in evals:
        assert r["transfer/sub/n_problems"] == 5
        assert r["transfer/sub/pass@1_low"] <= r["transfer/sub/pass@1"] <= r["transfer/sub/pass@1_high"]
    saved = [
        json.loads(line) for line in (tmp_path / "eval/transfer/sub/problems.jsonl").read_text().splitlines()
    ]
    assert len(saved) == 5 and all(" - " in r["question"] for r in saved)
    report = write_report(tmp_path).read_text()
    assert "## Tasks not trained on" in report and "| sub | 5 |" in report
