"""Before the first step: will the run fit in memory, and on disk?

A run that runs out of memory is killed by the operating system without a word (or, on a GPU, stops with a CUDA
error) minutes or hours in; one that runs out of disk loses the checkpoint it was writing. Both can be seen coming:
:func:`check_memory` prints :func:`minirl.memory.estimate_memory`'s table (what is held throughout, what each phase
adds, against what the machine has) and stops with the setting to change when the estimate does not fit;
:func:`disk_warning` says when the run folder's disk has less room than the run will write.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from minirl.memory import GIB, MemoryEstimate


class NotEnoughMemory(RuntimeError):
    """The memory estimate of a run is above what the machine has; the message says what to change."""


def check_memory(estimate: MemoryEstimate, force: bool = False, say: Callable[[str], None] = print) -> None:
    """Print the estimate; raise :class:`NotEnoughMemory` when it does not fit, unless ``force``.

    >>> from minirl.memory import MemoryEstimate
    >>> check_memory(MemoryEstimate({"weights": GIB}, {"rollout": GIB}, available=4 * GIB), say=lambda s: None)
    >>> check_memory(MemoryEstimate({"weights": GIB}, {"rollout": 4 * GIB}, available=4 * GIB), say=lambda s: None)
    Traceback (most recent call last):
    ...
    minirl.diagnostics.resources.NotEnoughMemory: the run needs about 5.0 GiB at its peak (rollout) and 4.0 GiB are available. Go on anyway with --run.preflight_force true.
    """
    say(estimate.table())
    if estimate.fits:
        return
    if force:
        say("[minirl] memory: --run.preflight_force is on, going on anyway.")
        return
    raise NotEnoughMemory(
        f"the run needs about {estimate.peak / GIB:.1f} GiB at its peak ({estimate.largest_phase}) and "
        f"{estimate.available / GIB:.1f} GiB are available. "
        + "".join(f"Try {a}. " for a in estimate.advice)
        + "Go on anyway with --run.preflight_force true."
    )


def run_writes(
    weights_bytes: int, optimizer_bytes: int, keep_last: int, checkpoints: bool, save_model: bool
) -> int:
    """Bytes a run writes to its folder at most: ``keep_last`` checkpoints (weights and optimizer state) when it
    checkpoints, the final model, and 64 MiB of logs.

    >>> run_writes(GIB, 2 * GIB, keep_last=2, checkpoints=True, save_model=True) / GIB
    7.0625
    """
    total = 64 * 2**20 + (weights_bytes if save_model else 0)
    if checkpoints:
        total += keep_last * (weights_bytes + optimizer_bytes)
    return total


def disk_warning(folder: str | Path, needed: int) -> str | None:
    """A warning when the disk of ``folder`` (or its nearest existing parent) has less than ``needed`` bytes free.

    >>> disk_warning(".", 1) is None
    True
    """
    path = Path(folder).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    free = shutil.disk_usage(path).free
    if free >= needed:
        return None
    return (
        f"[minirl] disk: the run will write up to {needed / GIB:.1f} GiB to {folder} and its disk has "
        f"{free / GIB:.1f} GiB free; free some space, keep fewer checkpoints (--checkpoint.keep_last 1) or write "
        "elsewhere (--run.output_dir)"
    )
