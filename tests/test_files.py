"""minirl.files: strict JSON (NaN as null) and atomic, fsync'ed replacement of run files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from minirl import files


def test_dumps_never_writes_nan_or_infinity():
    record = {
        "loss": float("nan"),
        "kl": float("-inf"),
        "np": np.float32("nan"),
        "np_ok": np.float64(0.5),
        "t": torch.tensor([1.0, float("nan")]),
        "n": np.int64(3),
        "flag": True,
        "nested": [{"x": float("inf")}, (1, 2.5)],
    }
    text = files.dumps(record)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {
        "loss": None,
        "kl": None,
        "np": None,
        "np_ok": 0.5,
        "t": [1.0, None],
        "n": 3,
        "flag": True,
        "nested": [{"x": None}, [1, 2.5]],
    }


def test_atomic_write_text_fsyncs_the_file_and_its_folder_before_and_after_the_rename(tmp_path, monkeypatch):
    target = tmp_path / "metrics.jsonl"
    target.write_text("old\n")
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", "dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.basename(dst)))
        assert target.read_text() == "old\n"  # untouched until the rename
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    files.atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert events == [("fsync", "file"), ("replace", "metrics.jsonl"), ("fsync", "dir")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]  # no temp file left


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "samples.jsonl"
    target.write_text("kept\n")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        files.atomic_write_text(target, "half")
    assert target.read_text() == "kept\n"


def test_fsync_tree_flushes_every_file_then_the_folders(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    for name in ("a", "b", "sub/c"):
        (tmp_path / name).write_text(name)
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.path.relpath(os.readlink(f"/proc/self/fd/{fd}"), tmp_path))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    files.fsync_tree(tmp_path)
    assert sorted(synced[:1]) == ["sub/c"] and set(synced) == {"a", "b", "sub/c", "sub", "."}
    assert synced.index("sub") < synced.index(".") and synced[-1] == "."
