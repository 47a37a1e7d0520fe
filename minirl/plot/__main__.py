"""``python -m minirl.plot RUN_DIR [RUN_DIR ...] [--out DIR] [--metrics k1,k2] [--smooth 0.6]``.

Writes ``curves.png`` (summary grid) and one PNG per metric group; see :mod:`minirl.plot.curves`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from minirl.plot.curves import plot_runs


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 bad input)."""
    parser = argparse.ArgumentParser(
        prog="python -m minirl.plot",
        description="Plot training curves from one or several runs' metrics.jsonl (runs are overlaid).",
    )
    parser.add_argument(
        "run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directory with metrics.jsonl"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: RUN_DIR/plots for one run, ./plots for several)",
    )
    parser.add_argument(
        "--metrics",
        default=None,
        help="comma-separated metric keys to plot; a key ending in '/' selects a prefix, e.g. 'reward,rewards/,eval/'",
    )
    parser.add_argument(
        "--smooth", type=float, default=0.0, help="EMA smoothing in [0, 1), e.g. 0.6 (default 0: raw)"
    )
    args = parser.parse_args(argv)

    out = args.out
    if out is None:
        first = args.run_dirs[0]
        first = first.parent if first.is_file() else first  # a metrics .jsonl given directly
        out = first / "plots" if len(args.run_dirs) == 1 else Path("plots")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    try:
        written = plot_runs(args.run_dirs, out, metrics=metrics, smooth=args.smooth)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
