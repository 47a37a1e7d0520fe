"""The GRPO trainer end to end on the tiny model: learning, resume equality, checkpoints, errors, the recipe."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from minirl.config import (
    CheckpointConfig,
    DataConfig,
    EvalConfig,
    OptimConfig,
    RolloutConfig,
    RunConfig,
    TrainConfig,
)
from minirl.config_checks import ConfigError
from minirl.config_parse import parse_args
from minirl.testing import changed, run_or_dump
from minirl.trainer import GRPOTrainer
from minirl.trainer.checkpoint import list_checkpoints

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(tmp_path, **sections: dict) -> TrainConfig:
    """4 steps of 2 prompts x 4 completions x 6 tokens in ``tmp_path``; ``sections`` change fields, e.g.
    ``grpo={"beta": 0.1}`` (:func:`minirl.testing.changed`)."""
    cfg = TrainConfig(
        data=DataConfig(eval_size=4, one_shot=False),
        rollout=RolloutConfig(num_generations=4, prompts_per_step=2, max_new_tokens=6),
        optim=OptimConfig(lr=1e-3),
        run=RunConfig(output_dir=str(tmp_path), max_steps=4, seed=0, preflight=False),
        eval=EvalConfig(at_end=False),
        checkpoint=CheckpointConfig(save_model=False),
    )
    return changed(cfg, **sections)


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def starts_with_a(completions, **kwargs):
    """Toy reward: 1 when the completion starts with a lowercase ASCII letter (26 of 259 tokens: ~10% at random)."""
    return [1.0 if c[:1].isascii() and c[:1].islower() else 0.0 for c in completions]


def test_tiny_model_learns_a_toy_reward(tmp_path, tiny_model, tiny_tokenizer):
    cfg = tiny_config(
        tmp_path,
        run={"max_steps": 25},
        optim={"lr": 1e-2},
        rollout={"num_generations": 8, "max_new_tokens": 2},
        grpo={"loss_type": "grpo"},
    )
    trainer = GRPOTrainer(
        cfg, model=tiny_model, tokenizer=tiny_tokenizer, reward_spec=[("starts_with_a", starts_with_a, 1.0)]
    )
    trainer.train()
    rewards = [r["reward"] for r in read_metrics(tmp_path) if r["type"] == "train"]
    assert sum(rewards[:3]) / 3 < 0.2, rewards[:3]
    assert sum(rewards[-3:]) / 3 > 0.8, rewards


def _train(tmp_path, model, tok, /, **sections):
    cfg = tiny_config(tmp_path, **sections)
    trainer = GRPOTrainer(
        cfg, model=model, tokenizer=tok, reward_spec=[("starts_with_a", starts_with_a, 1.0)]
    )
    trainer.train()
    return trainer


@pytest.mark.parametrize("engine", ["exact", "bf16"])
def test_resume_gives_the_same_metrics_and_weights(tmp_path, tiny_tokenizer, engine):
    """With a sampler copy (bf16) too: the copy made from the fresh model's weights is synced with the restored ones."""
    from minirl.testing import make_tiny_model

    eng = {"engine": engine}

    straight = tmp_path / "straight"
    t1 = _train(
        straight, make_tiny_model(len(tiny_tokenizer)), tiny_tokenizer, run={"max_steps": 4}, rollout=eng
    )
    resumed = tmp_path / "resumed"
    _train(
        resumed,
        make_tiny_model(len(tiny_tokenizer)),
        tiny_tokenizer,
        run={"max_steps": 2},
        checkpoint={"every": 2},
        rollout=eng,
    )
    assert [p.name for p in list_checkpoints(resumed)] == ["step-000002"]
    t2 = _train(
        resumed,
        make_tiny_model(len(tiny_tokenizer), seed=123),
        tiny_tokenizer,
        run={"max_steps": 4},
        checkpoint={"resume": "latest"},
        rollout=eng,
    )
    a = [r for r in read_metrics(straight) if r["type"] == "train"]
    b = [r for r in read_metrics(resumed) if r["type"] == "train"]
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for ra, rb in zip(a, b):
        for key in ("reward", "loss", "grad_norm", "completion_length/mean", "entropy"):
            assert ra[key] == pytest.approx(rb[key], abs=1e-6, nan_ok=True), (ra["step"], key)
    for (name, pa), (_, pb) in zip(t1.unwrapped.named_parameters(), t2.unwrapped.named_parameters()):
        assert torch.allclose(pa, pb, atol=1e-6), name


def test_checkpoints_rotate_and_are_complete(tmp_path, tiny_model, tiny_tokenizer):
    _train(
        tmp_path,
        tiny_model,
        tiny_tokenizer,
        run={"max_steps": 3},
        checkpoint={"every": 1, "keep_last": 2},
    )
    ckpts = list_checkpoints(tmp_path)
    assert [p.name for p in ckpts] == ["step-000002", "step-000003"]
    for name in ("trainable.safetensors", "optimizer.pt", "scheduler.pt", "rng.pt", "state.json"):
        assert (ckpts[-1] / name).exists()
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
    assert load_file(str(ckpts[-1] / "trainable.safetensors"))


def test_lora_with_kl_uses_the_base_as_reference(tmp_path, tiny_model, tiny_tokenizer):
    trainer = _train(
        tmp_path,
        tiny_model,
        tiny_tokenizer,
        model={"lora": True, "lora_r": 4},
        grpo={"beta": 0.1},
        run={"max_steps": 2},
        checkpoint={"save_model": True},
    )
    assert trainer.reference is None  # no copy: the adapter is disabled instead
    rows = [r for r in read_metrics(tmp_path) if r["type"] == "train"]
    assert all("kl" in r for r in rows)
    assert (tmp_path / "model" / "adapter_config.json").exists()
    if Path("/proc/self/status").exists():  # saving's peak resident memory, where Linux reports it
        (saved,) = [r for r in read_metrics(tmp_path) if r["type"] == "save"]
        assert saved["step"] == 2 and saved["memory/save_gib"] > 0.05


def test_full_finetune_with_kl_keeps_a_frozen_copy(tmp_path, tiny_model, tiny_tokenizer):
    trainer = _train(
        tmp_path,
        tiny_model,
        tiny_tokenizer,
        grpo={"beta": 0.1, "num_iterations": 2, "num_minibatches": 2},
        run={"max_steps": 1},
        optim={"micro_batch_size": 2},
    )
    assert trainer.reference is not None
    assert not any(p.requires_grad for p in trainer.reference.model.parameters())
    # on the CPU the copy is mapped from a file only while used: no weights in memory between steps
    assert {p.device.type for p in trainer.reference.model.parameters()} == {"meta"}
    assert (tmp_path / "reference.rank0.safetensors").exists()


def test_missing_gold_column_is_named(tmp_path, tiny_model, tiny_tokenizer):
    cfg = tiny_config(tmp_path, grpo={"rewards": {"countdown": 1.0}})
    with pytest.raises(ValueError, match="gold column 'nums'"):
        GRPOTrainer(cfg, model=tiny_model, tokenizer=tiny_tokenizer)


def test_unknown_reward_is_named(tmp_path, tiny_model, tiny_tokenizer):
    cfg = tiny_config(tmp_path, grpo={"rewards": {"no_such_reward": 1.0}})
    with pytest.raises(ValueError, match="no_such_reward"):
        GRPOTrainer(cfg, model=tiny_model, tokenizer=tiny_tokenizer)


def test_nan_loss_stops_with_a_message(tmp_path, tiny_model, tiny_tokenizer):
    from minirl.trainer import TrainingDivergedError

    with torch.no_grad():
        tiny_model.model.norm.weight.fill_(float("nan"))
    cfg = tiny_config(tmp_path)
    trainer = GRPOTrainer(
        cfg, model=tiny_model, tokenizer=tiny_tokenizer, reward_spec=[("starts_with_a", starts_with_a, 1.0)]
    )
    with pytest.raises((TrainingDivergedError, RuntimeError), match="(?i)nan|inf|probability"):
        trainer.train()


def test_config_errors_come_before_loading(tmp_path):
    with pytest.raises(ConfigError, match="num_generations"):
        tiny_config(tmp_path, rollout={"num_generations": 1})


def test_recipe_entry_point_runs_with_a_2_layer_model(tmp_path, tiny_model_dir):
    sys.path.insert(0, str(ROOT / "recipes"))
    try:
        import r1_zero
    finally:
        sys.path.pop(0)
    trainer = r1_zero.main(
        [
            "--model.name",
            str(tiny_model_dir),
            "--run.output_dir",
            str(tmp_path),
            "--run.max_steps",
            "2",
            "--rollout.max_new_tokens",
            "8",
            "--rollout.num_generations",
            "4",
            "--data.eval_size",
            "3",
            "--eval.at_start",
            "true",
            "--run.preflight",
            "false",
        ]
    )
    assert trainer.step == 2
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "samples.jsonl",
        "report.md",
        "model/config.json",
        "eval/summary.json",
        "eval/problems.jsonl",
        "plots/curves.png",
    ):
        assert (tmp_path / name).exists(), name
    evals = [r for r in read_metrics(tmp_path) if r["type"] == "eval"]
    assert [e["when"] for e in evals] == ["start", "end"]


def test_two_process_launch_on_cpu(tmp_path, tiny_model_dir):
    """Two real processes: torchrun (``accelerate launch --config_file cpu_2proc.yaml`` starts one process on the CPU
    unless MPI is set up). The main process's logged prompts prove the world size: rank 0 of 2 takes every other
    prompt batch of the schedule."""
    sys.path.insert(0, str(ROOT / "recipes"))
    try:
        import r1_zero
    finally:
        sys.path.pop(0)
    from minirl.tasks import get_task
    from minirl.trainer.data import PromptSchedule

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    args = [
        *("--model.name", str(tiny_model_dir), "--run.output_dir", str(tmp_path), "--run.max_steps", "2"),
        *("--rollout.max_new_tokens", "6", "--rollout.num_generations", "4", "--data.eval_size", "0"),
        *("--data.train_size", "64", "--run.sample_every", "1", "--run.preflight", "false"),
        *("--checkpoint.save_model", "false", "--eval.at_start", "false", "--rollout.prompts_per_step", "1"),
    ]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd = [*launcher, str(ROOT / "recipes" / "r1_zero.py"), *args]
    out = run_or_dump(cmd, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = [r for r in read_metrics(tmp_path) if r["type"] == "train"]
    assert [r["step"] for r in rows] == [1, 2]  # written once, by the main process, with gathered metrics
    cfg = parse_args(args, default_config=r1_zero.DEFAULT_CONFIG)
    examples = get_task(cfg.data.task, **cfg.data.task_args).examples("train", n=64, seed=cfg.run.seed)
    schedule = PromptSchedule(examples, cfg.rollout.prompts_per_step, cfg.run.seed)
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [0, 1]
    assert samples[1]["question"] == schedule.batch(1, rank=0, world=2)[0].question
    assert samples[1]["question"] != schedule.batch(1, rank=0, world=1)[0].question


@pytest.mark.parametrize("dynamic", [False, True])
def test_a_step_without_signal_moves_weights_only_without_dynamic_sampling(
    tmp_path, tiny_model, tiny_tokenizer, dynamic
):
    """With beta 0 a group whose rewards all agree has no gradient, yet AdamW's momentum from the step before still
    moves the weights (what collapses runs where most groups agree); dynamic sampling drops the group: no update."""
    signal = [True]

    def signal_then_none(completions, **kwargs):
        if signal[0]:
            return [float(i % 2) for i in range(len(completions))]  # every group has signal
        return [1.0] * len(completions)  # every group agrees

    grpo = {"beta": 0.0, "dynamic_sampling": dynamic}
    no_decay = {"weight_decay": 0.0}  # no weight decay: only the momentum can move the weights
    cfg = tiny_config(tmp_path, grpo=grpo, optim=no_decay)
    trainer = GRPOTrainer(
        cfg, model=tiny_model, tokenizer=tiny_tokenizer, reward_spec=[("f", signal_then_none, 1.0)]
    )
    before = {k: v.clone() for k, v in trainer.unwrapped.state_dict().items()}
    first = trainer.train_step()
    after_first = {k: v.clone() for k, v in trainer.unwrapped.state_dict().items()}
    signal[0] = False
    second = trainer.train_step()
    after_second = trainer.unwrapped.state_dict()
    assert first["kept_frac"] == 1.0 and first["zero_variance_frac"] == 0.0
    assert any(not torch.equal(before[k], after_first[k]) for k in before)  # the step with signal trains
    assert second["zero_variance_frac"] == 1.0
    moved = any(not torch.equal(after_first[k], after_second[k]) for k in after_first)
    assert moved is not dynamic
    assert second["kept_frac"] == (0.0 if dynamic else 1.0)


def test_micro_batches_log_the_metrics_of_one_batch(tmp_path, tiny_tokenizer):
    """Per-token means (kl, entropy, clip ratios) are weighted by each micro-batch's tokens and the token count adds
    up, so the logged step equals the one-batch step (not a mean of micro-batch means)."""
    from minirl.testing import make_tiny_model

    runs = {}
    for micro in (None, 3):  # 8 completions: micro-batches of 3, 3 and 2, of different token counts
        out = tmp_path / str(micro)
        model = make_tiny_model(len(tiny_tokenizer))
        _train(
            out,
            model,
            tiny_tokenizer,
            run={"max_steps": 2},
            grpo={"beta": 0.1},
            optim={"micro_batch_size": micro},
        )
        runs[micro] = [r for r in read_metrics(out) if r["type"] == "train"]
    for whole, micro in zip(runs[None], runs[3]):
        assert micro["num_tokens"] == whole["num_tokens"] > 0
        for key in ("loss", "grad_norm", "kl", "entropy", "ratio/mean", "clip_ratio/region"):
            assert micro[key] == pytest.approx(whole[key], rel=1e-4, abs=1e-6), key


def test_the_optimizer_state_is_freed_before_the_end_evaluation(
    tmp_path, tiny_model, tiny_tokenizer, monkeypatch
):
    """The end evaluation and saving run without AdamW's moments (a checkpoint, when asked for, is written before);
    a second train() raises instead of restarting the moments from zero."""
    from minirl.trainer import loop

    cfg = tiny_config(tmp_path, run={"max_steps": 2}, eval={"at_end": True}, checkpoint={"every": 2})
    trainer = GRPOTrainer(cfg, model=tiny_model, tokenizer=tiny_tokenizer)
    seen = []
    monkeypatch.setattr(
        loop, "evaluate_run", lambda ctx, when: seen.append((when, len(trainer.optimizer.state)))
    )
    trainer.train()
    assert seen == [("end", 0)]
    state = torch.load(tmp_path / "checkpoints" / "step-000002" / "optimizer.pt", weights_only=True)
    assert state["state"], "the last checkpoint holds the optimizer state"
    cfg.run.max_steps = 3
    with pytest.raises(RuntimeError, match="checkpoint"):
        trainer.train()
