"""Checkpoints: atomic, rotated, complete enough to resume exactly.

A checkpoint directory ``checkpoints/step-000004`` holds the trainable weights (the full model, or only the LoRA
adapter) in safetensors, the optimizer and scheduler states, every RNG state (torch, the rollout sampler's generator,
Python's ``random``) and ``state.json`` (step, config). It is written into a hidden temporary directory, every file
and the directory are ``fsync``-ed, and the directory is renamed into place (then its parent is ``fsync``-ed): a
process killed at any moment leaves no half checkpoint, and a machine crash cannot leave a complete-looking one whose
files never reached the disk (``minirl.files``). A checkpoint counts only with all its files. Old checkpoints (all
but the last ``keep_last``) are renamed to a hidden name before they are deleted, so a kill during the deletion
cannot leave a half-deleted one that looks complete; leftovers of interrupted saves and deletions are removed by the
next save. Loading uses ``torch.load(weights_only=True)``. A save that finds the disk full removes what it wrote and
stops the run with :class:`minirl.files.DiskFullError` (the path, the space needed, and the checkpoint to resume from).
The final model is saved apart, in Hugging Face format (:func:`save_model`; :func:`save_final_model` also measures
the save's peak memory for the run's log).
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from minirl.files import DiskFullError, disk_space_for, fsync_dir, fsync_tree
from minirl.memory import PeakMemory

PREFIX = "step-"
FILES = ("trainable.safetensors", "optimizer.pt", "scheduler.pt", "rng.pt", "state.json")
_HIDDEN = (".tmp-", ".del-")  # a save in progress, a rotation in progress


def checkpoint_root(output_dir: str | Path) -> Path:
    """``<output_dir>/checkpoints``."""
    return Path(output_dir) / "checkpoints"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints (every file of :data:`FILES` present), oldest first."""
    root = checkpoint_root(output_dir)
    if not root.exists():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and not _missing(p)]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def _missing(path: Path) -> list[str]:
    return [name for name in FILES if not (path / name).is_file()]


def _remove(path: Path) -> None:
    """Delete a checkpoint directory: first renamed to a hidden name (atomic), so it stops counting at once."""
    doomed = path.with_name(f"{_HIDDEN[1]}{path.name}")
    if doomed.exists():
        shutil.rmtree(doomed)
    os.replace(path, doomed)
    fsync_dir(path.parent)
    shutil.rmtree(doomed, ignore_errors=True)


def trainable_state_dict(model) -> dict[str, torch.Tensor]:
    """Only the parameters that train (all weights, or the LoRA adapter), detached and contiguous."""
    return {
        name: param.detach().contiguous().clone()
        for name, param in model.named_parameters()
        if param.requires_grad
    }


def save_checkpoint(
    output_dir: str | Path,
    step: int,
    model,
    optimizer,
    scheduler,
    generator: torch.Generator,
    extra_state: dict,
    keep_last: int = 2,
) -> Path:
    """Write ``checkpoints/step-{step:06d}`` atomically and durably and delete all but the last ``keep_last``."""
    root = checkpoint_root(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:06d}"
    tmp = root / f"{_HIDDEN[0]}{PREFIX}{step:06d}"
    for leftover in root.iterdir():  # interrupted saves and deletions of earlier processes
        if leftover.name.startswith(_HIDDEN):
            shutil.rmtree(leftover, ignore_errors=True)
    weights = trainable_state_dict(model)
    needed = 3 * sum(t.numel() * t.element_size() for t in weights.values())  # weights + Adam's two moments
    previous = list_checkpoints(output_dir)
    hint = (
        f"{previous[-1]} is intact: free some space and continue with --checkpoint.resume latest"
        if previous
        else "free some space or write elsewhere (--run.output_dir)"
    )
    try:
        with disk_space_for(tmp, needed, hint):
            tmp.mkdir()
            save_file(weights, str(tmp / "trainable.safetensors"))
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
            torch.save(
                {
                    "torch": torch.get_rng_state(),
                    "sampler": generator.get_state(),
                    "python": list(random.getstate()[1]),
                    "python_version": random.getstate()[0],
                    "python_gauss": random.getstate()[2],
                },
                tmp / "rng.pt",
            )
            (tmp / "state.json").write_text(json.dumps({"step": step, **extra_state}, indent=2, default=str))
            fsync_tree(tmp)
    except DiskFullError:
        shutil.rmtree(tmp, ignore_errors=True)  # the half-written checkpoint gives its space back
        raise
    if final.exists():  # the same step saved again (e.g. a stop right after a periodic save)
        _remove(final)
    os.replace(tmp, final)
    fsync_dir(root)
    for old in list_checkpoints(output_dir)[:-keep_last]:
        _remove(old)
    return final


def find_checkpoint(resume: str, output_dir: str | Path) -> Path:
    """``latest`` -> newest complete checkpoint in ``output_dir``; else the given path (checked)."""
    if resume == "latest":
        found = list_checkpoints(output_dir)
        if not found:
            raise FileNotFoundError(
                f"--checkpoint.resume latest: no checkpoint in {checkpoint_root(output_dir)}. Start without --checkpoint.resume, "
                "or pass the path of a checkpoint directory."
            )
        return found[-1]
    path = Path(resume)
    missing = _missing(path)
    if missing:
        raise FileNotFoundError(
            f"--checkpoint.resume {resume}: not a complete checkpoint directory (no {', '.join(missing)} inside)."
        )
    return path


def load_checkpoint(path: Path, model, optimizer, scheduler, generator: torch.Generator) -> dict:
    """Restore everything saved by :func:`save_checkpoint`; returns the ``state.json`` dict."""
    weights = load_file(str(path / "trainable.safetensors"))
    params = dict(model.named_parameters())
    missing = [k for k in weights if k not in params]
    if missing:
        raise ValueError(
            f"Checkpoint {path} does not fit this model (unknown parameters such as {missing[:3]})."
        )
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    rng = torch.load(path / "rng.pt", weights_only=True)
    torch.set_rng_state(rng["torch"])
    generator.set_state(rng["sampler"])
    random.setstate((rng["python_version"], tuple(rng["python"]), rng["python_gauss"]))
    return json.loads((path / "state.json").read_text())


def bare_optimizer(optimizer):
    """The torch optimizer inside accelerate's wrapper (itself when it is not wrapped): what a checkpoint holds."""
    return getattr(optimizer, "optimizer", optimizer)


def resume_step(
    where: str, output_dir: str | Path, model, optimizer, scheduler, generator, say=print
) -> int | None:
    """Restore a run from ``where`` (``latest`` or a checkpoint path) into the given objects; returns the step it
    reached, or None when ``latest`` finds no checkpoint (a run killed before its first one starts over)."""
    if where == "latest" and not list_checkpoints(output_dir):
        say(
            f"[minirl] --checkpoint.resume latest: no checkpoint in {checkpoint_root(output_dir)}; starting from step 0."
        )
        return None
    path = find_checkpoint(where, output_dir)
    state = load_checkpoint(path, model, bare_optimizer(optimizer), scheduler, generator)
    say(f"[minirl] resumed from {path} at step {int(state['step'])}")
    return int(state["step"])


def save_model(model, tokenizer, path: Path, merge_lora: bool = False) -> None:
    """``model`` and ``tokenizer`` in Hugging Face format (safetensors) in ``path``; a LoRA model is merged first when
    ``merge_lora`` (into a copy: ``model`` keeps its adapter). A full disk stops with ``DiskFullError``."""
    if merge_lora:
        model = copy.deepcopy(model).merge_and_unload()
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    with disk_space_for(path, size, "the run's checkpoints (if any) are intact"):
        model.save_pretrained(path, safe_serialization=True)
        tokenizer.save_pretrained(path)


def save_final_model(model, tokenizer, path: Path, merge_lora: bool, device, step: int) -> dict:
    """:func:`save_model`, its peak memory measured on ``device`` (a ``PeakMemory`` phase ``save``); returns the save's
    ``metrics.jsonl`` record: ``{"type": "save", "step": step, "memory/save_gib": ...}`` (without the memory where
    the peak cannot be read)."""
    peaks = PeakMemory(device)
    with peaks.phase("save"):
        save_model(model, tokenizer, path, merge_lora=merge_lora)
    return {"type": "save", "step": step, **peaks.metrics(peak=False)}
