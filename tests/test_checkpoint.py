"""Checkpoint files: written atomically and durably (fsync before the rename), rotated safely, never half-read."""

from __future__ import annotations

import os

import pytest
import torch

from minirl.trainer import checkpoint as ckpt

FILES = ("trainable.safetensors", "optimizer.pt", "scheduler.pt", "rng.pt", "state.json")


def _parts():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda u: 1.0)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    return model, opt, sched, torch.Generator().manual_seed(0)


def _save(root, step, keep_last=2):
    model, opt, sched, gen = _parts()
    return ckpt.save_checkpoint(root, step, model, opt, sched, gen, {"config": {}}, keep_last=keep_last)


def test_every_file_and_folder_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.relpath(os.readlink(f"/proc/self/fd/{fd}"), tmp_path)))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.relpath(dst, tmp_path)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    final = _save(tmp_path, 3)
    assert final == tmp_path / "checkpoints" / "step-000003"
    rename = events.index(("replace", "checkpoints/step-000003"))
    before = {path for kind, path in events[:rename] if kind == "fsync"}
    assert {f"checkpoints/.tmp-step-000003/{name}" for name in FILES} <= before
    assert "checkpoints/.tmp-step-000003" in before  # the folder's entries
    assert ("fsync", "checkpoints") in events[rename + 1 :]  # the new name itself


@pytest.mark.parametrize("fail_at", FILES)
def test_a_crash_mid_write_leaves_no_complete_looking_checkpoint(tmp_path, monkeypatch, fail_at):
    """The process dies while writing ``fail_at``: the older checkpoint is the latest, and the next save cleans up."""
    _save(tmp_path, 1)
    real_fsync = os.fsync

    def dying_fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(fail_at):
            raise KeyboardInterrupt  # stands for a kill: nothing after this line runs
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", dying_fsync)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, 2)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-000001"]
    assert ckpt.find_checkpoint("latest", tmp_path).name == "step-000001"
    _save(tmp_path, 3)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step-000001", "step-000003"]  # no .tmp-* left behind


def test_a_folder_without_every_file_is_not_a_checkpoint(tmp_path):
    final = _save(tmp_path, 1)
    (final / "optimizer.pt").unlink()
    assert ckpt.list_checkpoints(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        ckpt.find_checkpoint("latest", tmp_path)
    with pytest.raises(FileNotFoundError, match="optimizer.pt"):
        ckpt.find_checkpoint(str(final), tmp_path)


def test_rotation_never_leaves_a_half_deleted_checkpoint_that_looks_complete(tmp_path, monkeypatch):
    import shutil

    _save(tmp_path, 1)
    _save(tmp_path, 2)
    real_rmtree = shutil.rmtree

    def dying_rmtree(path, *args, **kwargs):
        for name in sorted(os.listdir(path))[:2]:  # delete a part, then "die"
            os.unlink(os.path.join(path, name))
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", dying_rmtree)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, 3)  # keeps 2: deletes step 1
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-000002", "step-000003"]
    _save(tmp_path, 4)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-000003", "step-000004"]


def test_saving_the_same_step_again_replaces_it_whole(tmp_path):
    first = _save(tmp_path, 5)
    (first / "marker").write_text("old")
    again = _save(tmp_path, 5)
    assert again == first and not (again / "marker").exists()
    assert all((again / name).exists() for name in FILES)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-000005"]
