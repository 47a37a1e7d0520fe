"""Rollout time against the rollout's width: P prompts x G completions for P in ``--prompts`` (default 1,2,4,8, the
curve up to 8 x 8 of issue #19), per minirl engine, and each time's ratio to the narrowest batch (1 x G).

Issue #19's target: 4 x 8 costs at most 2x the rollout time of 1 x 8 (memory-bound decode should make wider batches
nearly free per token). The P prompts are the first P of the same list of GSM8K train prompts, so every batch holds
the narrower ones. Lengths are fixed as in ``benchmarks/rollout.py`` (EOS is not a stop token, every row decodes
``--max_new_tokens``; ``--stop_at_eos`` turns that off), so the curve measures the batch width and not the lengths
the rows happened to draw. Rounds alternate: in each, every engine runs every P once; ``--warmup`` untimed rounds,
then ``--steps`` timed ones.

    python benchmarks/scaling.py --warmup 1 --steps 2 --out docs/results/benchmarks/cpu_scaling.json
    python benchmarks/scaling.py --engines '[exact]' --prompts '[1, 4]' --max_new_tokens 64
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from benchmarks.common import (  # noqa: E402
    BenchArgs,
    RolloutOptions,
    alternate_runs,
    check_device,
    engine_run,
    finish,
    gsm8k_prompts,
    parse_options,
    rate_summary,
    rollout_setup,
)
from minirl.config_checks import _check  # noqa: E402


def measure(args) -> dict:
    """Every engine at every width, alternately; per engine, a curve of rollout seconds and the ratio to the
    narrowest width."""
    import torch

    widths = sorted(set(args.prompts))
    _, tok, engines = rollout_setup(args)
    prompts = gsm8k_prompts(tok, widths[-1], args.seed)
    runs = {}
    for name, engine in engines.items():
        gen = torch.Generator(device=args.device).manual_seed(args.seed)
        for p in widths:
            runs[f"{name} {p}x{args.generations}"] = engine_run(engine, tok, prompts[:p], args, gen)
    rows = alternate_runs(runs, args.warmup, args.steps, args.device)
    curves = {}
    for name in engines:
        cells = [
            {
                "prompts": p,
                "rows": p * args.generations,
                **rate_summary(rows[f"{name} {p}x{args.generations}"]),
            }
            for p in widths
        ]
        for c in cells:
            c["seconds_over_narrowest"] = c["seconds"] / cells[0]["seconds"]
        curves[name] = cells
    return {
        "narrowest": f"{widths[0]}x{args.generations}",
        "fixed_length": not args.stop_at_eos,
        "engines": {name: e.name for name, e in engines.items()},  # what auto resolved to
        "per_run": rows,
        "curves": curves,
    }


@dataclass
class ScalingArgs(RolloutOptions, BenchArgs):
    """Rollout time as the batch widens: P prompts x G completions, for each minirl engine."""

    prompts: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    """The widths P (prompts), a YAML list, e.g. ``[1, 4]``."""

    def __post_init__(self):
        super().__post_init__()
        _check(
            self.prompts and min(self.prompts) >= 1, f"prompts must be positive integers, got {self.prompts}"
        )


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark and return (and with ``--out`` write) the result."""
    args = parse_options(ScalingArgs, argv)
    check_device(args)
    started = time.perf_counter()
    result = measure(args)
    for name, cells in result["curves"].items():
        for c in cells:
            print(
                f"{name:6s} {c['prompts']:3d} x {args.generations}: {c['seconds']:8.2f} s  "
                f"{c['tokens_per_s']:8.1f} tokens/s  {c['seconds_over_narrowest']:5.2f}x the time of "
                f"{result['narrowest']}"
            )
    return finish({"benchmark": "scaling", **result}, args, started)


if __name__ == "__main__":
    main()
