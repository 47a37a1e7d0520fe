"""The same first GRPO steps under two versions of the code (or two settings): metrics and weights side by side.

A memory or refactoring change must not change what the trainer computes. This script runs the main job's first
``--steps`` steps from the same seed (same problems, same sampling generator, so the same rollouts while the weights
agree to float noise) and writes every computed metric of each step and the final weights; ``--compare`` then prints
the largest difference of each. Run it once per side, e.g. the commit before a change (a ``git worktree``) and now:

    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before python /tmp/before/benchmarks/same_steps.py --out /tmp/before.safetensors   # old default
    python benchmarks/same_steps.py --out /tmp/after.safetensors                                       # new default
    python benchmarks/same_steps.py --compare '[/tmp/before.safetensors, /tmp/after.safetensors]'

``--config_args`` passes more ``--section.field value`` overrides to the recipe's config (e.g. ``--config_args
"--optim.micro_batch_size 4"``). Timings and measured memory are not compared; the generated token count is, so a rollout that diverged shows.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from minirl.config_checks import ConfigError, _check, at_least  # noqa: E402
from minirl.config_parse import parse_fields  # noqa: E402

MEASURED = ("time/", "memory/", "step_time", "rollout_time", "train_time", "tokens_per_s", "tokens/s")
"""Metric name prefixes that are measurements of the machine, not results of the computation."""


def run(steps: int, out: Path, overrides: list[str]) -> None:
    """``steps`` training steps of the main job; metrics and weights into ``out`` (safetensors, metrics in metadata)."""
    import torch
    from safetensors.torch import save_file

    from minirl.config_parse import parse_args
    from minirl.files import read_metrics
    from minirl.trainer import GRPOTrainer

    root = Path(__file__).resolve().parents[1]
    argv = ["--config", str(root / "recipes" / "configs" / "r1_zero_smollm2_cpu.yaml"),
            "--run.output_dir", str(out.with_suffix(".run")), "--run.max_steps", str(steps),
            "--run.preflight", "false", "--eval.at_start", "false", "--eval.at_end", "false",
            "--checkpoint.save_model", "false", "--run.sample_every", "0", *overrides]  # fmt: skip
    trainer = GRPOTrainer(parse_args(argv))
    trainer.train()
    rows = [r for r in read_metrics(out.with_suffix(".run") / "metrics.jsonl") if r.get("type") == "train"]
    metrics = [
        {k: v for k, v in r.items() if isinstance(v, (int, float)) and not k.startswith(MEASURED)}
        for r in rows
    ]
    weights = {
        name: p.detach().to(torch.float32).contiguous() for name, p in trainer.unwrapped.named_parameters()
    }
    save_file(weights, str(out), metadata={"metrics": json.dumps(metrics), "argv": json.dumps(overrides)})
    print(f"wrote {out}: {steps} steps, {len(weights)} tensors")


def compare(a: Path, b: Path) -> dict:
    """The largest absolute difference of each metric over the steps, and of the weights, between two runs."""
    from safetensors import safe_open

    def load(path: Path):
        with safe_open(str(path), framework="pt") as f:
            return json.loads(f.metadata()["metrics"]), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118

    (ma, wa), (mb, wb) = load(a), load(b)
    if len(ma) != len(mb):
        raise SystemExit(f"error: {a} has {len(ma)} steps, {b} has {len(mb)}")
    # a metric may be logged at some steps only (``ways/none/accuracy`` when some completion took no way)
    keys = sorted({k for x, y in zip(ma, mb) for k in set(x) & set(y)})
    diffs = {
        k: max(abs(float(x[k]) - float(y[k])) for x, y in zip(ma, mb) if k in x and k in y) for k in keys
    }
    only = sorted({f"step {i + 1}: {k}" for i, (x, y) in enumerate(zip(ma, mb)) for k in set(x) ^ set(y)})
    weight = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    scale = max(float(wa[k].abs().max()) for k in wa)
    result = {
        "metrics_max_abs_diff": diffs,
        "only_in_one": only,
        "weights_max_abs_diff": weight,
        "weights_max": scale,
    }
    width = max(map(len, keys))
    for k in keys:
        x, y = next(
            (x, y) for x, y in zip(reversed(ma), reversed(mb)) if k in x and k in y
        )  # the last step with k
        print(f"  {k:{width}s} {x[k]: .6g}  vs {y[k]: .6g}   max |diff| over steps {diffs[k]:.3g}")
    print(f"weights: max |diff| {weight:.3g} (largest weight {scale:.3g}); metrics in one run only: {only}")
    return result


@dataclass
class SameStepsArgs:
    """The same first GRPO steps under two versions of the code (or two settings): metrics and weights side by side."""

    steps: int = 3
    """Training steps of the main job to run."""
    out: str | None = None
    """Where to write this side's metrics and weights (a ``.safetensors`` file)."""
    compare: list[str] | None = None
    """Instead of running: the two files to compare, a YAML list ``[A, B]``."""
    config_args: str = ""
    """More ``--section.field value`` overrides of the recipe's config in one string, e.g. ``--config_args
    "--optim.micro_batch_size 4"``."""

    def __post_init__(self):
        at_least("", self, steps=1)
        _check(self.compare is None or len(self.compare) == 2, f"compare takes two files, got {self.compare}")
        _check(self.compare is not None or self.out is not None, "give --out (to run) or --compare '[A, B]'")


def main(argv: list[str] | None = None) -> dict | None:
    """Run one side or compare two; a mistake in the options is one ``error:`` line and exit code 2."""
    try:
        args = parse_fields(SameStepsArgs, list(sys.argv[1:] if argv is None else argv))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.compare:
        return compare(*(Path(p) for p in args.compare))
    run(args.steps, Path(args.out), shlex.split(args.config_args))
    return None


if __name__ == "__main__":
    main()
