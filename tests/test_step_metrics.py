"""The pieces of a training step's bookkeeping, apart from the trainer: the metrics assembled from the step's typed
records (``minirl.trainer.metrics``), the sampling and logging cadence and the step log (``minirl.trainer.rundir``),
and Ctrl-C (``minirl.trainer.interrupt``)."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from minirl.config import EvalConfig, RunConfig, TrainConfig
from minirl.diagnostics import LiveDiagnostics
from minirl.rollout.generate import Rollout
from minirl.tasks import PromptStyle, get_task
from minirl.trainer.interrupt import StopOnInterrupt
from minirl.trainer.metrics import StepTimes, gather_metrics, step_metrics
from minirl.trainer.rewards import Scores
from minirl.trainer.rundir import EvalContext, RunDir, StepLog, evaluate_run, samples_due
from minirl.trainer.update import UpdateResult


def _rollout() -> Rollout:
    """2 prompts x 2 completions; completion lengths 1, 2, 3, 0; prompts of 3 real tokens each."""
    lengths = torch.tensor([1, 2, 3, 0])  # [N]
    completion_mask = (torch.arange(3)[None, :] < lengths[:, None]).long()  # [N, C]
    prompt_mask = torch.tensor([[0, 1, 1, 1]] * 4)  # [N, P]
    return Rollout(
        prompt_ids=torch.zeros(4, 4, dtype=torch.long),  # [N, P]
        prompt_mask=prompt_mask,
        completion_ids=torch.zeros(4, 3, dtype=torch.long),  # [N, C]
        completion_mask=completion_mask,
        truncated=torch.zeros(4, dtype=torch.bool),  # [N]
        texts=["a", "bb", "ccc", ""],
        num_generations=2,
        prompts=["p", "q"],
    )


def test_step_metrics_are_the_step_records_in_log_order():
    scores = Scores(
        total=torch.tensor([1.0, 0.0, 1.0, 1.0]),  # [N]
        valid=torch.ones(4, dtype=torch.bool),  # [N]
        per_func=[[1.0, 0.0, 1.0, 1.0]],
        metrics={"rewards/f/mean": 0.75, "accuracy": 0.5},
    )
    update = UpdateResult(
        losses=[0.5, 1.5],
        stats=[{"kl_mean": 0.1, "num_tokens": 6.0}, {"kl_mean": 0.3, "num_tokens": 6.0}],
        grad_norm=2.0,
        times={"forward_backward": 0.25, "optimizer": 0.125},
    )
    zero_var = torch.tensor([False, True])  # [B]
    keep = torch.tensor([True, True, False, False])  # [N] the second group dropped
    times = StepTimes(start=10.0, rollout_done=12.0, scored=12.5, update_start=12.5, end=14.0)
    memory = {"memory/rollout_gib": 1.0, "memory/peak_gib": 1.0}
    m = step_metrics(scores, zero_var, update, 1e-3, _rollout(), keep, times, memory, stage=1)
    assert list(m) == [
        "rewards/f/mean", "accuracy", "reward", "reward_std", "zero_variance_frac", "kl", "num_tokens", "loss",
        "grad_norm", "lr", "step_time", "train_time", "tokens_per_s", "kept_frac", "tokens/generated",
        "tokens/prompt", "time/rollout", "time/score", "curriculum/stage", "time/forward_backward",
        "time/optimizer", "memory/rollout_gib", "memory/peak_gib",
    ]  # fmt: skip
    assert m["reward"] == 0.75 and m["reward_std"] == pytest.approx(0.5)
    assert m["zero_variance_frac"] == 0.5 and m["kept_frac"] == 0.5
    assert (
        m["kl"] == pytest.approx(0.2)
        and m["num_tokens"] == 6.0
        and m["loss"] == 1.0
        and m["grad_norm"] == 2.0
    )
    assert (m["step_time"], m["train_time"], m["time/rollout"], m["time/score"]) == (4.0, 1.5, 2.0, 0.5)
    assert m["tokens/generated"] == 6.0 and m["tokens_per_s"] == 3.0 and m["tokens/prompt"] == 12.0
    assert "rollout_time" not in m  # the rollout time is logged once, as time/rollout
    assert gather_metrics(m, SimpleNamespace(num_processes=1)) is m


def test_a_step_without_updates_or_curriculum_logs_nan_loss_and_no_update_times():
    scores = Scores(torch.tensor([1.0]), torch.ones(1, dtype=torch.bool), [[1.0]], {})  # total [1]
    zero_var, keep = torch.tensor([True]), torch.tensor([False])  # [B], [N]
    nothing = UpdateResult([], [], float("nan"), {})
    times = StepTimes(0.0, 1.0, 1.0, 1.0, 1.0)
    m = step_metrics(scores, zero_var, nothing, 0.1, _rollout(), keep, times, {})
    assert m["reward_std"] == 0.0 and math.isnan(m["loss"]) and m["kept_frac"] == 0.0
    assert "curriculum/stage" not in m
    assert [k for k in m if k.startswith("time/")] == ["time/rollout", "time/score"]


def test_samples_are_due_at_the_first_step_and_every_nth():
    assert [s for s in range(30) if samples_due(s, 10)] == [0, 9, 19, 29]
    assert not any(samples_due(s, 0) for s in range(5))


def test_the_step_log_writes_every_log_every_steps_and_the_last(tmp_path):
    run = RunConfig(max_steps=5, log_every=2)
    said = []
    diagnostics = SimpleNamespace(update=lambda step, m: [f"warn {step}"] if step == 3 else [])
    acc = SimpleNamespace(is_main_process=True, log=lambda *a, **k: None)
    with StepLog(run, RunDir(tmp_path), diagnostics, acc, start=0) as log:
        log.bar.write = said.append
        for step in range(1, 6):
            log.log(step, {"reward": float(step), "step": step})
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["type"], r["step"]) for r in records] == [("train", 2), ("train", 4), ("train", 5)]
    assert said == ["warn 3"] and log.bar.n == 5


def test_a_first_ctrl_c_asks_to_stop_and_a_second_stops_at_once():
    before = signal.getsignal(signal.SIGINT)
    said = []
    with StopOnInterrupt(say=said.append) as stop:
        handler = signal.getsignal(signal.SIGINT)
        assert not stop.requested
        handler(signal.SIGINT, None)
        assert stop.requested and "finishing this step" in said[0]
        with pytest.raises(KeyboardInterrupt):
            handler(signal.SIGINT, None)
    assert signal.getsignal(signal.SIGINT) is before


class _OneProcess:
    """The parts of an ``accelerate.Accelerator`` that :func:`evaluate_run` uses, on one process."""

    is_main_process = True

    def __init__(self):
        self.printed: list[str] = []

    def print(self, line: str) -> None:
        self.printed.append(line)

    def wait_for_everyone(self) -> None:
        pass


def test_evaluate_run_reads_only_its_context(tmp_path, tiny_model, tiny_tokenizer):
    """The end evaluation from an :class:`EvalContext` (no trainer), with a transfer task and the reasoning ablation:
    one record in metrics.jsonl, and each evaluation saved where the run's readers look."""
    task, sub = get_task("arithmetic"), get_task("arithmetic", ops="-")
    acc = _OneProcess()
    tiny_model.train()
    ctx = EvalContext(
        model=tiny_model,
        policy=tiny_model,
        tokenizer=tiny_tokenizer,
        style=PromptStyle(),
        task=task,
        examples=task.examples("test", n=2, seed=0),
        transfer={"sub": (sub, sub.examples("test", n=2, seed=0))},
        settings=EvalConfig(no_reasoning=True, batch_size=4),
        max_new_tokens=4,
        language="en",
        step=3,
        accelerator=acc,
        run_dir=RunDir(tmp_path),
        diagnostics=LiveDiagnostics(TrainConfig()),
    )
    result = evaluate_run(ctx, "end")
    assert not tiny_model.training
    (record,) = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert (record["type"], record["step"], record["when"]) == ("eval", 3, "end")
    assert record["eval/accuracy"] == result.metrics["pass@1"].value
    assert record["transfer/sub/n_problems"] == 2.0 and "transfer/sub/pass@1_low" in record
    assert "no_reasoning/drop" in record and "no_reasoning/pass@1_high" in record
    if Path("/proc/self/status").exists():  # the evaluation's peak resident memory, where Linux reports it
        assert record["memory/evaluation_gib"] > 0.05
    for where in ("eval", "eval/transfer/sub", "eval/no_reasoning"):
        assert (tmp_path / where / "summary.json").exists(), where
    assert acc.printed[-1].startswith("[minirl] eval (end, step 3): ")
    assert evaluate_run(EvalContext(**{**vars(ctx), "examples": []}), "end") is None  # no held-out problems
