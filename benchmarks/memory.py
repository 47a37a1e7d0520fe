"""Peak memory of a GRPO step, minirl beside TRL's GRPOTrainer, and the curves a user reads to size a run.

Three parts, each measurement in a fresh worker process (``benchmarks/step.py``'s workers, so each side's peak is its
own; Linux ``VmHWM``, reset between phases):

1. **Side by side** on two works, minirl then TRL 1.16 with its own memory defaults (gradient checkpointing on,
   ``bf16=False`` on the CPU, one micro-batch per step): the main job's shape (``--prompts_per_step 8`` x G 8, at most
   40 tokens, beta 0.04) and a long-completion work (the same with 256 tokens). Per phase for minirl (the trainer's
   own ``memory/*`` metrics: rollout, frozen log-probs, forward/backward, optimizer), the rollout and the rest of the
   step for TRL (its ``_generate`` is timed and measured by ``benchmarks/step.py``), step time for both, and
   minirl's peak over TRL's.
2. **Curves** (minirl, one step each): peak memory and step time against the completion cap (40, 128, 256, 512 tokens
   at 8 prompts) and against prompts per step (1, 4, 8, 16 at 40 tokens), with the preflight's estimate for each
   point beside it.
3. **Evaluation**: the peak of one held-out evaluation batch at ``eval.batch_size`` (greedy + 8 samples per problem).

Prompts are GSM8K train questions (R1-Zero template, one-shot, ``<think>`` prefill; their length: docs/benchmarks.md,
section The work); EOS ends a row, so completions are at most the cap. Peak is the whole process (weights, optimizer
state, libraries), as ``/usr/bin/time -v`` counts it.

    python benchmarks/memory.py --out docs/results/benchmarks/cpu_memory.json --plot docs/results/benchmarks/cpu_memory.png
    python benchmarks/memory.py --parts '[curves]' --lengths '[40, 128]' --prompts '[1, 8]'  # a quick look, minirl only
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from benchmarks.common import (  # noqa: E402
    BenchArgs,
    MinirlOptions,
    build_model,
    check_device,
    finish,
    parse_options,
    peak_rss_mib,
    reset_peaks,
    run_config,
    say,
)
from benchmarks.workers import PREFIX, Worker, send  # noqa: E402
from minirl.config_checks import _check  # noqa: E402

STEP = Path(__file__).resolve().parent / "step.py"
SCRIPT = Path(__file__).resolve()
PARTS = ("side_by_side", "curves", "evaluation")
WORKS = {"main": {"prompts": 8, "tokens": 40}, "long": {"prompts": 8, "tokens": 256}}


def one_step(kind: str, prompts: int, tokens: int, args) -> dict:
    """One warm-up step and one measured step of ``kind`` (``minirl`` or ``trl``) in a fresh ``step.py`` worker; the
    peak is the larger of the two steps' (the first one allocates the optimizer state)."""
    argv = [
        *("--model", args.model, "--device", args.device, "--seed", str(args.seed)),
        *("--prompts_per_step", str(prompts), "--max_new_tokens", str(tokens), "--beta", str(args.beta)),
        *("--generations", str(args.generations), "--warmup", "0", "--steps", "2"),
    ]
    worker = Worker(STEP, kind, argv)
    try:
        rows = [worker.step(), worker.step()]
    finally:
        worker.close()
    row = dict(rows[-1])
    row["peak_rss_mib"] = max(r["peak_rss_mib"] for r in rows)
    if "memory_gib" in rows[0]:
        row["memory_gib"] = {
            k: max(r["memory_gib"].get(k, 0.0) for r in rows) for k in rows[-1]["memory_gib"]
        }
    say(
        f"{kind} {prompts} prompts x {tokens} tokens: peak {row['peak_rss_mib'] / 1024:.2f} GiB, {row['seconds']:.1f} s"
    )
    return row


@functools.cache
def _shape_and_prompt_tokens(model: str, device: str, seed: int):
    """The model's :class:`~minirl.memory.ModelShape` and the longest benchmark prompt in tokens."""
    from benchmarks.common import gsm8k_prompts
    from minirl.memory import ModelShape

    lm, tok = build_model(SimpleNamespace(model=model, device=device, seed=seed, arch=None))
    prompts = gsm8k_prompts(tok, 64, seed)
    return ModelShape.of(lm), max(len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts)


def estimate_gib(prompts: int, tokens: int, args) -> float:
    """The preflight's estimate (``minirl.memory.estimate_memory``) of the same work, in GiB."""
    from minirl.memory import GIB, estimate_memory

    work = SimpleNamespace(
        **{**vars(args), "prompts_per_step": prompts, "max_new_tokens": tokens, "engine": None}
    )
    cfg = run_config(work, "/tmp/unused", 1)
    shape, prompt_tokens = _shape_and_prompt_tokens(args.model, args.device, args.seed)
    return estimate_memory(shape, cfg, prompt_tokens).peak / GIB


def side_by_side(args) -> dict:
    out = {}
    for name, work in ((n, WORKS[n]) for n in args.works):
        mini = one_step("minirl", work["prompts"], work["tokens"], args)
        trl = one_step("trl", work["prompts"], work["tokens"], args)
        out[name] = {
            **work,
            "minirl": mini,
            "trl": trl,
            "peak_ratio_minirl_over_trl": mini["peak_rss_mib"] / trl["peak_rss_mib"],
            "step_speedup_minirl_over_trl": trl["seconds"] / mini["seconds"],
        }
        say(f"{name}: minirl/TRL peak {out[name]['peak_ratio_minirl_over_trl']:.2f}x")
    return out


def curves(args) -> dict:
    points = [("tokens", 8, t) for t in args.lengths] + [("prompts", p, 40) for p in args.prompts]
    out: dict[str, list] = {"tokens": [], "prompts": []}
    for axis, prompts, tokens in points:
        row = one_step("minirl", prompts, tokens, args)
        row.update(prompts=prompts, tokens=tokens, estimate_gib=estimate_gib(prompts, tokens, args))
        out[axis].append(row)
    return out


def evaluation_worker(args) -> None:
    """Worker: one evaluation batch of ``--eval_batch_size`` rows (greedy + 8 samples per problem); its peak."""
    from minirl.config import EvalConfig
    from minirl.eval.runner import evaluate_examples
    from minirl.tasks import PromptStyle, get_task

    model, tok = build_model(args)
    task = get_task("gsm8k")
    batch = args.eval_batch_size or EvalConfig().batch_size
    examples = task.examples("test", n=max(1, batch // 9), seed=args.seed)
    reset_peaks(args.device)
    t0 = time.perf_counter()
    evaluate_examples(model, tok, task, examples, PromptStyle(), k=8, max_new_tokens=args.max_new_tokens,
                      batch_size=batch, progress=False)  # fmt: skip
    send({"ready": True, "rows": batch, "seconds": time.perf_counter() - t0, "peak_rss_mib": peak_rss_mib()})


def evaluation(args) -> dict:
    argv = [
        sys.executable,
        str(SCRIPT),
        "--model",
        args.model,
        "--device",
        args.device,
        "--worker",
        "evaluation",
    ]
    argv += ["--max_new_tokens", str(args.max_new_tokens)]
    if args.eval_batch_size:
        argv += ["--eval_batch_size", str(args.eval_batch_size)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    row = json.loads(
        next(line for line in proc.stdout.splitlines() if line.startswith(PREFIX))[len(PREFIX) :]
    )
    say(f"evaluation batch of {row['rows']} rows: peak {row['peak_rss_mib'] / 1024:.2f} GiB")
    return row


def plot(result: dict, path: str) -> None:
    """Peak memory (and the estimate) against completion cap and prompts per step, step time on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (axis, label) in zip(
        axes,
        (
            ("tokens", "completion cap (tokens), 8 prompts x 8"),
            ("prompts", "prompts per step (x 8), 40 tokens"),
        ),
    ):
        rows = result["curves"][axis]
        xs = [r[axis] for r in rows]
        ax.plot(xs, [r["peak_rss_mib"] / 1024 for r in rows], "o-", label="measured peak")
        ax.plot(xs, [r["estimate_gib"] for r in rows], "s--", label="preflight estimate")
        ax.set_xlabel(label)
        ax.set_ylabel("peak resident memory (GiB)")
        ax.grid(alpha=0.3)
        twin = ax.twinx()
        twin.plot(xs, [r["seconds"] for r in rows], "^:", color="gray", label="step time")
        twin.set_ylabel("seconds per step", color="gray")
        ax.legend(loc="upper left")
    fig.suptitle("minirl on SmolLM2-135M (fp32, CPU): one GRPO step")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    say(f"wrote {path}")


@dataclass
class MemoryArgs(MinirlOptions, BenchArgs):
    """Peak memory of a GRPO step, minirl beside TRL's GRPOTrainer, and the curves a user reads to size a run."""

    max_new_tokens: int = 40
    """New tokens per completion at most in the evaluation part (the works and the curves set their own)."""
    steps: int = 1
    """Timed steps per side."""
    beta: float = 0.04
    """KL coefficient: the main job's KL anchor, a reference model."""
    parts: list[Literal["side_by_side", "curves", "evaluation"]] = field(default_factory=lambda: list(PARTS))
    """Which parts, a YAML list, e.g. ``[curves]``."""
    works: list[Literal["main", "long"]] = field(default_factory=lambda: list(WORKS))
    """The side-by-side works, a YAML list."""
    lengths: list[int] = field(default_factory=lambda: [40, 128, 256, 512])
    """The completion caps of the tokens curve, a YAML list."""
    prompts: list[int] = field(default_factory=lambda: [1, 4, 8, 16])
    """The prompts per step of the prompts curve, a YAML list."""
    eval_batch_size: int | None = None
    """Rows of the evaluation batch (None: ``eval.batch_size``'s default)."""
    plot: str | None = None
    """Write the curves here (PNG)."""
    worker: Literal["evaluation"] | None = None
    """Internal: run the evaluation part in this process (the parent starts it)."""

    def __post_init__(self):
        super().__post_init__()
        for name in ("lengths", "prompts"):
            values = getattr(self, name)
            _check(values and min(values) >= 1, f"{name} must be positive integers, got {values}")
        _check(
            self.eval_batch_size is None or self.eval_batch_size >= 1,
            f"eval_batch_size must be >= 1 or null, got {self.eval_batch_size}",
        )


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_options(MemoryArgs, argv)
    check_device(args)
    if args.worker:
        evaluation_worker(args)
        return None
    started = time.perf_counter()
    result: dict = {"benchmark": "memory"}
    if "side_by_side" in args.parts:
        result["side_by_side"] = side_by_side(args)
    if "curves" in args.parts:
        result["curves"] = curves(args)
        if args.plot:
            plot(result, args.plot)
    if "evaluation" in args.parts:
        result["evaluation"] = evaluation(args)
    return finish(result, args, started)


if __name__ == "__main__":
    main()
