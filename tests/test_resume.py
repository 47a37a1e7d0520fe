"""Runs that survive being killed: resuming without a checkpoint, log truncation to the checkpoint, and a real CLI
run killed with SIGKILL at several moments that, resumed, equals a straight run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_trainer import read_metrics, starts_with_a, tiny_config  # noqa: E402

from minirl import files
from minirl.testing import HANG_TIMEOUT_S, changed
from minirl.trainer import GRPOTrainer
from minirl.trainer.checkpoint import list_checkpoints


def _trainer(run_dir, model, tok, /, resume: str | None = None, **sections):
    """A trainer of :func:`tiny_config` with samples at every step, ``sections`` changed, from ``resume``."""
    cfg = changed(tiny_config(run_dir, run={"sample_every": 1}), **sections)
    if resume is not None:
        cfg = changed(cfg, checkpoint={"resume": resume})
    return GRPOTrainer(cfg, model=model, tokenizer=tok, reward_spec=[("starts_with_a", starts_with_a, 1.0)])


def _resumed(run_dir, tok, sections):
    """A new trainer (fresh weights) on ``run_dir`` with ``--checkpoint.resume latest``."""
    from minirl.testing import make_tiny_model

    return _trainer(run_dir, make_tiny_model(len(tok)), tok, resume="latest", **sections)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------------- resume without a checkpoint
def test_resume_latest_without_a_checkpoint_starts_fresh_and_says_so(tmp_path, tiny_tokenizer, capsys):
    """A run killed before its first checkpoint left logs: `--checkpoint.resume latest` starts again from step 0."""
    from minirl.testing import make_tiny_model

    _trainer(tmp_path, make_tiny_model(len(tiny_tokenizer)), tiny_tokenizer, run={"max_steps": 2}).train()
    assert not list_checkpoints(tmp_path)
    capsys.readouterr()
    trainer = _trainer(
        tmp_path,
        make_tiny_model(len(tiny_tokenizer)),
        tiny_tokenizer,
        resume="latest",
        run={"max_steps": 3},
    )
    trainer.train()
    said = [line for line in capsys.readouterr().out.splitlines() if "no checkpoint" in line]
    assert len(said) == 1 and "step 0" in said[0], said
    assert [r["step"] for r in read_metrics(tmp_path) if r["type"] == "train"] == [1, 2, 3]  # each once
    assert [r["step"] for r in _lines(tmp_path / "samples.jsonl")] == [0, 0, 1, 1, 2, 2]  # 2 prompts a step


def test_resume_of_an_explicit_missing_checkpoint_still_fails(tmp_path, tiny_model, tiny_tokenizer):
    trainer = _trainer(tmp_path, tiny_model, tiny_tokenizer, resume=str(tmp_path / "checkpoints/step-9"))
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        trainer.train()


# -------------------------------------------------------------------------------------- truncation on resume
def _killed_run(run_dir, tok):
    """4 steps with checkpoints at 2 and 4 and an eval at 2, then 'killed' before the checkpoint at 4: it is removed
    and the last metrics line is torn (half written)."""
    from minirl.testing import make_tiny_model

    extra = {"checkpoint": {"every": 2}, "eval": {"every": 2, "at_start": True}}
    _trainer(run_dir, make_tiny_model(len(tok)), tok, **extra).train()
    shutil.rmtree(run_dir / "checkpoints" / "step-000004")
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"type": "train", "step": 5, "rew')
    return extra


def test_resume_truncates_the_logs_to_the_checkpoint(tmp_path, tiny_tokenizer):

    extra = _killed_run(tmp_path, tiny_tokenizer)
    before = read_metrics_lenient(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in before if r["type"] == "train"] == [1, 2, 3, 4]
    trainer = _resumed(tmp_path, tiny_tokenizer, extra)
    trainer.train()
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows if r["type"] == "train"] == [1, 2, 3, 4]  # 3 and 4 redone, logged once
    assert [(r["when"], r["step"]) for r in rows if r["type"] == "eval"] == [("start", 0), ("train", 2)]
    samples = [r["step"] for r in _lines(tmp_path / "samples.jsonl")]
    assert samples == [0, 0, 1, 1, 2, 2, 3, 3]  # each step once (2 prompts a step)


def test_log_truncation_is_atomic(tmp_path, tiny_tokenizer, monkeypatch):
    """Killed while truncating: the old log is whole (no half-truncated file), and the next resume works."""
    from minirl.testing import make_tiny_model

    extra = _killed_run(tmp_path, tiny_tokenizer)
    old = (tmp_path / "metrics.jsonl").read_text()
    real_replace = os.replace

    def dying_replace(src, dst):
        if str(dst).endswith(".jsonl"):
            raise KeyboardInterrupt  # stands for a kill right before the rename
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dying_replace)
    model = make_tiny_model(len(tiny_tokenizer))
    with pytest.raises(KeyboardInterrupt):
        _trainer(tmp_path, model, tiny_tokenizer, resume="latest", **extra).train()
    assert (tmp_path / "metrics.jsonl").read_text() == old
    monkeypatch.setattr(os, "replace", real_replace)
    _resumed(tmp_path, tiny_tokenizer, extra).train()
    assert [r["step"] for r in read_metrics(tmp_path) if r["type"] == "train"] == [1, 2, 3, 4]
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_corrupt_line_in_the_middle_of_a_log_is_named(tmp_path, tiny_tokenizer):

    extra = _killed_run(tmp_path, tiny_tokenizer)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    lines[1] = "not json"
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    trainer = _resumed(tmp_path, tiny_tokenizer, extra)
    with pytest.raises(ValueError, match=r"metrics\.jsonl:2: not valid JSON"):
        trainer.train()
    assert (tmp_path / "metrics.jsonl").read_text().splitlines()[1] == "not json"  # nothing rewritten


def read_metrics_lenient(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


def test_files_module_is_what_truncates(tmp_path, tiny_tokenizer, monkeypatch):
    """The truncated logs are written through minirl.files.atomic_write_text (temp file, fsync, os.replace)."""

    extra = _killed_run(tmp_path, tiny_tokenizer)
    written = []
    real = files.atomic_write_text
    monkeypatch.setattr(files, "atomic_write_text", lambda p, t: (written.append(Path(p).name), real(p, t)))
    _resumed(tmp_path, tiny_tokenizer, extra).train()
    assert sorted(written) == ["metrics.jsonl", "samples.jsonl"]


# ------------------------------------------------------------------------------- a real CLI run, killed and resumed
KILL_SCRIPT = Path(__file__).resolve().parent / "kill_run.py"
TIMING = {"step_time", "train_time", "tokens_per_s"}  # and time/*, memory/*


def _cli(run_dir: Path, model_dir: Path, *extra: str, kill_at: str | None = None, background: bool = False):
    args = [
        *("--model.name", str(model_dir), "--run.output_dir", str(run_dir), "--run.max_steps", "8"),
        *("--checkpoint.every", "3", "--checkpoint.keep_last", "2", "--run.sample_every", "1"),
        *("--eval.every", "4", "--eval.at_start", "true", "--eval.k", "2", "--data.eval_size", "2"),
        *("--data.train_size", "64", "--rollout.max_new_tokens", "6", "--rollout.num_generations", "4"),
        *("--run.threads", "1", "--run.preflight", "false"),
        *extra,
    ]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    env.pop("KILL_AT", None)
    if kill_at:
        env["KILL_AT"] = kill_at
    cmd = [sys.executable, str(KILL_SCRIPT), *args]
    if background:
        return subprocess.Popen(
            cmd, env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    return subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=HANG_TIMEOUT_S)


def _same(a: dict, b: dict, skip=frozenset()) -> None:
    assert set(a) == set(b), set(a) ^ set(b)
    for key in set(a) - skip:
        if isinstance(a[key], float) or isinstance(b[key], float):
            assert a[key] == pytest.approx(b[key], abs=1e-6, nan_ok=True), (a.get("step"), key)
        else:
            assert a[key] == b[key], (a.get("step"), key)


def test_a_cli_run_killed_at_several_moments_resumes_to_the_straight_run(tmp_path, tiny_model_dir):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = _cli(straight, tiny_model_dir)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    resume = ("--checkpoint.resume", "latest")  # what a restart script passes every time
    moments = [
        ("metrics:2", []),  # before the first checkpoint: the restart starts again from step 0
        (
            "checkpoint:3:optimizer.pt",
            [],
        ),  # half-way through writing the first checkpoint: still none complete
        ("samples:4", ["step-000003"]),  # mid-step 5: samples and an eval (step 4) after the checkpoint
    ]
    for kill_at, checkpoints in moments:
        out = _cli(killed, tiny_model_dir, *resume, kill_at=kill_at)
        assert out.returncode == -signal.SIGKILL, (kill_at, out.returncode, out.stderr[-3000:])
        assert [p.name for p in list_checkpoints(killed)] == checkpoints, kill_at
    # killed from outside at whatever moment follows the checkpoint of step 6
    proc = _cli(killed, tiny_model_dir, *resume, background=True)
    deadline = time.monotonic() + HANG_TIMEOUT_S
    while not (killed / "checkpoints" / "step-000006").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "the run never reached its checkpoint of step 6"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=HANG_TIMEOUT_S)
    final = _cli(killed, tiny_model_dir, *resume)
    assert final.returncode == 0, final.stdout[-2000:] + final.stderr[-3000:]
    assert "resumed from" in final.stdout + final.stderr

    a, b = read_metrics(straight), read_metrics(killed)
    assert [r["step"] for r in b if r["type"] == "train"] == list(range(1, 9))  # each step logged once
    assert [(r["type"], r.get("when"), r["step"]) for r in b] == [
        (r["type"], r.get("when"), r["step"]) for r in a
    ]
    for ra, rb in zip(a, b):
        _same(
            ra, rb, skip=TIMING | {k for k in ra if k.startswith(("time/", "memory/"))}
        )  # measured, not computed
    assert _lines(killed / "samples.jsonl") == _lines(straight / "samples.jsonl")
    wa = load_file(str(straight / "model" / "model.safetensors"))
    wb = load_file(str(killed / "model" / "model.safetensors"))
    assert set(wa) == set(wb)
    for name in wa:
        assert torch.allclose(wa[name], wb[name], atol=1e-6), name


# ----------------------------------------------------------------------------------- a full disk
def test_a_full_disk_stops_the_run_with_the_path_and_the_previous_checkpoint_resumes(
    tmp_path, tiny_tokenizer, monkeypatch
):
    """The second checkpoint's write finds no space (ENOSPC): the run stops with a one-line error naming the path,
    the space needed and the checkpoint to resume from; nothing of the half checkpoint stays; the run resumes."""
    import errno

    from minirl.files import DiskFullError
    from minirl.testing import make_tiny_model
    from minirl.trainer import checkpoint

    real_save, calls = checkpoint.save_file, []

    def save_file(tensors, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(tensors, path)

    monkeypatch.setattr(checkpoint, "save_file", save_file)
    extra = {"run": {"max_steps": 3}, "checkpoint": {"every": 1}}
    trainer = _trainer(tmp_path, make_tiny_model(len(tiny_tokenizer)), tiny_tokenizer, **extra)
    with pytest.raises(DiskFullError) as err:
        trainer.train()
    message = str(err.value)
    assert "\n" not in message and "step-000002" in message and "GiB" in message
    assert "step-000001 is intact" in message and "--checkpoint.resume latest" in message
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000001"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]

    monkeypatch.setattr(checkpoint, "save_file", real_save)
    resumed = _resumed(tmp_path, tiny_tokenizer, extra)
    assert resumed.step == 0  # resume happens in train()
    resumed.train()
    assert resumed.step == 3 and [p.name for p in list_checkpoints(tmp_path)][-1] == "step-000003"


def test_a_full_disk_is_a_one_line_error_with_exit_code_2(capsys):
    import errno

    from minirl.cli import run_main
    from minirl.files import disk_space_for

    def main(argv):
        with disk_space_for("runs/x/model", 2**30):
            raise OSError(errno.EDQUOT, "Disk quota exceeded")

    with pytest.raises(SystemExit) as stop:
        run_main(main)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no space left to write runs/x/model") and "\n" not in err
