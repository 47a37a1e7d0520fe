"""minirl's GRPO step time over completion length and G, on a small grid (minirl only, in this process).

Each cell is a fresh ``GRPOTrainer`` on the benchmark work of ``benchmarks/step.py`` with G completions per prompt and
that many new tokens at most: ``--warmup`` untimed steps in the first cell, then ``--steps`` timed steps per cell.
Times, phases and token counts are the trainer's own metrics (``benchmarks.common.MinirlSide``).

    python benchmarks/sweep.py --warmup 1 --steps 1 --grid '[8x32, 8x64, 8x128, 4x128, 16x128]' \\
        --out docs/results/benchmarks/cpu_sweep.json
    python benchmarks/sweep.py --engine bf16 --grid '[8x64, 16x64]'
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from benchmarks.common import (  # noqa: E402
    BenchArgs,
    MinirlOptions,
    MinirlSide,
    build_model,
    check_device,
    finish,
    parse_options,
    say,
    summarize,
)
from minirl.config_checks import _check  # noqa: E402


def parse_grid(cells: list[str]) -> list[tuple[int, int]]:
    """``["4x64", "8x128"]`` -> ``[(4, 64), (8, 128)]`` (G x max new tokens, each >= 1).

    >>> parse_grid(["4x64", " 8x128"])
    [(4, 64), (8, 128)]
    """
    try:
        pairs = [tuple(int(n) for n in str(cell).strip().split("x")) for cell in cells]
    except ValueError:
        pairs = []
    ok = bool(pairs) and all(len(p) == 2 and min(p) >= 1 for p in pairs)
    _check(ok, f"grid expects GxLEN pairs like [4x64, 8x128], got {cells!r}")
    return pairs  # type: ignore[return-value]


@dataclass
class SweepArgs(MinirlOptions, BenchArgs):
    """minirl's GRPO step time over completion length and G, on a small grid (minirl only, in this process)."""

    grid: list[str] = field(default_factory=lambda: ["8x32", "8x64", "8x128", "4x128", "16x128"])
    """The cells, G x max new tokens, a YAML list, e.g. ``[4x64, 8x128]``."""

    def __post_init__(self):
        super().__post_init__()
        parse_grid(self.grid)  # refused here, before any model is loaded


def measure(args) -> dict:
    """One trainer per grid cell on one loaded model; the summary of each cell's timed steps."""
    model, tok = build_model(args)
    cells = []
    for i, (g, n_new) in enumerate(parse_grid(args.grid)):
        warmup = args.warmup if i == 0 else 0
        side = MinirlSide(args, model, tok, warmup + args.steps + 1, generations=g, max_new=n_new)
        for _ in range(warmup):
            side.step()
        s = summarize([side.step() for _ in range(args.steps)])
        say(
            f"G={g:3d} max_new={n_new:4d}: {s['seconds_per_step']:.1f} s/step, "
            f"mean length {s['mean_completion_length']:.0f}"
        )
        cells.append({"generations": g, "max_new_tokens": n_new, "engine": side.engine, **s})
        del side
    return {"cells": cells}


def main(argv: list[str] | None = None) -> dict:
    """Run the sweep and return (and with ``--out`` write) the result."""
    args = parse_options(SweepArgs, argv)
    check_device(args)
    started = time.perf_counter()
    return finish({"benchmark": "sweep", **measure(args)}, args, started)


if __name__ == "__main__":
    main()
