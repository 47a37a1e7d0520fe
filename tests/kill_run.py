"""Test-only: run the ``recipes/r1_zero.py`` command line in this process and SIGKILL it at a chosen moment.

    KILL_AT=metrics:2 python tests/kill_run.py <r1_zero arguments>          # just after step 2's train record
    KILL_AT=samples:4 python tests/kill_run.py ...                          # just after the samples of step index 4
    KILL_AT=checkpoint:3:optimizer.pt python tests/kill_run.py ...          # half-way through writing that file

Without ``KILL_AT`` it is the plain command line. The kill is a real ``SIGKILL`` of this process (no cleanup, no
``finally``), fired from inside so that the moment is exact; tests/test_resume.py also kills from outside.
"""

from __future__ import annotations

import io
import os
import signal
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes"))


def die() -> None:
    """SIGKILL this process now."""
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(spec: str) -> None:
    """Arm the kill described by ``spec`` (see the module docstring)."""
    from minirl.trainer import checkpoint
    from minirl.trainer.rundir import RunDir

    kind, *rest = spec.split(":")
    if kind in ("metrics", "samples"):
        step, real_write = int(rest[0]), RunDir.write

        def write(self, name, record):
            real_write(self, name, record)
            if (
                name == f"{kind}.jsonl"
                and record.get("step") == step
                and record.get("type", "train") == "train"
            ):
                die()

        RunDir.write = write
    elif kind == "checkpoint":
        folder, target = f".tmp-step-{int(rest[0]):06d}", rest[1]
        real_save, real_save_file = torch.save, checkpoint.save_file

        def half_then_die(data: bytes, path) -> None:
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
            die()

        def save(obj, path, *args, **kwargs):
            if Path(path).parent.name == folder and Path(path).name == target:
                buf = io.BytesIO()
                real_save(obj, buf)
                half_then_die(buf.getvalue(), path)
            return real_save(obj, path, *args, **kwargs)

        def save_file(tensors, path, *args, **kwargs):
            if Path(path).parent.name == folder and Path(path).name == target:
                from safetensors.torch import save

                half_then_die(save(tensors), path)
            return real_save_file(tensors, path, *args, **kwargs)

        torch.save, checkpoint.save_file = save, save_file
    else:
        raise SystemExit(f"KILL_AT: unknown moment {spec!r}")


if __name__ == "__main__":
    import r1_zero

    from minirl.cli import run_main

    if os.environ.get("KILL_AT"):
        install(os.environ["KILL_AT"])
    run_main(r1_zero.main)
