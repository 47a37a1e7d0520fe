"""Runs that survive being killed: resuming without a checkpoint, log truncation to the checkpoint, and a real CLI
run killed with SIGKILL at several moments that, resumed, equals a straight run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import pytest
from test_trainer import read_metrics, starts_with_a, tiny_config  # noqa: E402

from minirl import files
from minirl.trainer import GRPOTrainer
from minirl.trainer.checkpoint import list_checkpoints


def _trainer(run_dir, model, tok, *extra):
    cfg = tiny_config(run_dir, "--run.sample_every", "1", *extra)
    return GRPOTrainer(cfg, model=model, tokenizer=tok, reward_spec=[("starts_with_a", starts_with_a, 1.0)])


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------------- resume without a checkpoint
def test_resume_latest_without_a_checkpoint_starts_fresh_and_says_so(tmp_path, tiny_tokenizer, capsys):
    """A run killed before its first checkpoint left logs: `--run.resume latest` starts again from step 0."""
    from minirl.testing import make_tiny_model

    _trainer(tmp_path, make_tiny_model(len(tiny_tokenizer)), tiny_tokenizer, "--run.max_steps", "2").train()
    assert not list_checkpoints(tmp_path)
    capsys.readouterr()
    trainer = _trainer(
        tmp_path,
        make_tiny_model(len(tiny_tokenizer)),
        tiny_tokenizer,
        "--run.max_steps",
        "3",
        "--run.resume",
        "latest",
    )
    trainer.train()
    said = [line for line in capsys.readouterr().out.splitlines() if "no checkpoint" in line]
    assert len(said) == 1 and "step 0" in said[0], said
    assert [r["step"] for r in read_metrics(tmp_path) if r["type"] == "train"] == [1, 2, 3]  # each once
    assert [r["step"] for r in _lines(tmp_path / "samples.jsonl")] == [0, 0, 1, 1, 2, 2]  # 2 prompts a step


def test_resume_of_an_explicit_missing_checkpoint_still_fails(tmp_path, tiny_model, tiny_tokenizer):
    trainer = _trainer(
        tmp_path, tiny_model, tiny_tokenizer, "--run.resume", str(tmp_path / "checkpoints/step-9")
    )
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        trainer.train()


# -------------------------------------------------------------------------------------- truncation on resume
def _killed_run(run_dir, tok):
    """4 steps with checkpoints at 2 and 4 and an eval at 2, then 'killed' before the checkpoint at 4: it is removed
    and the last metrics line is torn (half written)."""
    from minirl.testing import make_tiny_model

    extra = ("--run.save_every", "2", "--run.eval_every", "2", "--run.eval_at_start", "true")
    _trainer(run_dir, make_tiny_model(len(tok)), tok, *extra).train()
    shutil.rmtree(run_dir / "checkpoints" / "step-000004")
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"type": "train", "step": 5, "rew')
    return extra


def test_resume_truncates_the_logs_to_the_checkpoint(tmp_path, tiny_tokenizer):
    from minirl.testing import make_tiny_model

    extra = _killed_run(tmp_path, tiny_tokenizer)
    before = read_metrics_lenient(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in before if r["type"] == "train"] == [1, 2, 3, 4]
    trainer = _trainer(
        tmp_path, make_tiny_model(len(tiny_tokenizer)), tiny_tokenizer, *extra, "--run.resume", "latest"
    )
    trainer.train()
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows if r["type"] == "train"] == [1, 2, 3, 4]  # 3 and 4 redone, logged once
    assert [(r["when"], r["step"]) for r in rows if r["type"] == "eval"] == [("start", 0), ("train", 2)]
    assert [r["step"] for r in _lines(tmp_path / "samples.jsonl")] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
    ]  # each step once


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
        _trainer(tmp_path, model, tiny_tokenizer, *extra, "--run.resume", "latest").train()
    assert (tmp_path / "metrics.jsonl").read_text() == old
    monkeypatch.setattr(os, "replace", real_replace)
    _trainer(
        tmp_path, make_tiny_model(len(tiny_tokenizer)), tiny_tokenizer, *extra, "--run.resume", "latest"
    ).train()
    assert [r["step"] for r in read_metrics(tmp_path) if r["type"] == "train"] == [1, 2, 3, 4]
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_corrupt_line_in_the_middle_of_a_log_is_named(tmp_path, tiny_tokenizer):
    from minirl.testing import make_tiny_model

    extra = _killed_run(tmp_path, tiny_tokenizer)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    lines[1] = "not json"
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    trainer = _trainer(
        tmp_path, make_tiny_model(len(tiny_tokenizer)), tiny_tokenizer, *extra, "--run.resume", "latest"
    )
    with pytest.raises(ValueError, match=r"metrics\.jsonl line 2"):
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
    from minirl.testing import make_tiny_model

    extra = _killed_run(tmp_path, tiny_tokenizer)
    written = []
    real = files.atomic_write_text
    monkeypatch.setattr(files, "atomic_write_text", lambda p, t: (written.append(Path(p).name), real(p, t)))
    _trainer(
        tmp_path, make_tiny_model(len(tiny_tokenizer)), tiny_tokenizer, *extra, "--run.resume", "latest"
    ).train()
    assert sorted(written) == ["metrics.jsonl", "samples.jsonl"]
