"""The same GRPO step through minirl's ``GRPOTrainer`` and TRL's ``GRPOTrainer``, side by side in one run.

Same model, same GSM8K train prompts in the same order (R1-Zero template, one-shot, ``<think>`` prefill; their length:
docs/benchmarks.md, section The work), ``--prompts_per_step`` prompts x G completions x ``--max_new_tokens`` per step,
same loss type, beta, rewards, fp32 on the CPU. TRL gets the same number of prompts per step: the config mapping
(``minirl.backends.trl_backend``) sets TRL's ``per_device_train_batch_size`` to prompts x G with one generation batch
per step. Each side lives in its own worker process (so peak RSS is per side); the parent drives them alternately, one
step at a time: ``--warmup`` untimed steps each, then ``--steps`` timed steps, minirl, TRL, minirl, TRL, ...
``--trl_bf16_steps K`` then adds K steps of TRL with its default ``bf16=True`` (its time a step on the CPU:
docs/benchmarks.md, section GRPO step, minirl vs TRL), in a fresh worker once the first two have quit. ``--engine``
picks minirl's rollout engine (TRL has its own ``model.generate``).

    python benchmarks/step.py --out docs/results/benchmarks/cpu_step.json  # time: docs/benchmarks.md, Re-measured on
    python benchmarks/step.py --engine bf16 --prompts_per_step 4 --out step_bf16_4x8.json
    python benchmarks/step.py --warmup 0 --steps 1 --trl_bf16_steps 1 --out cpu_step_trl_bf16.json
    python benchmarks/step.py --device cuda --arch qwen2.5-0.5b           # GPU; minirl only where TRL is missing

Fairness: minirl's ``</answer>`` stop string is off (TRL stops at EOS only); both cap completions at the same length
and sample with temperature 1, top-p 1, no top-k. Completions still end at EOS at different places on the two sides
(different random streams), so lengths are recorded and rates are per generated token.

Time splits. minirl: the trainer's own metrics (the ``time/*`` phases: rollout, score, frozen_logps, forward_backward,
optimizer; "other" is the rest of the measured step). TRL: TRL publishes no rollout time (its ``profiling_context``
only reports to wandb / mlflow / trackio), so this script wraps TRL's private ``GRPOTrainer._generate`` (tokenize +
``model.generate`` + decode) to time it, and reads the completion length from TRL's ``_metrics``: TRL's internals, not
minirl's, and they may move between TRL versions. "Training" is the rest of the step on both sides (rewards,
advantages, log-probs, backward, optimizer). Training tokens are the prompt + completion tokens of the step's
sequences (TRL's ``num_input_tokens_seen``), the same count for both even though minirl runs each distinct prompt
once. Peak RSS: ``benchmarks/common.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from benchmarks.common import (  # noqa: E402
    BenchArgs,
    MinirlOptions,
    MinirlSide,
    build_model,
    check_device,
    finish,
    parse_options,
    peak_rss_mib,
    peaks,
    print_table,
    reset_peaks,
    run_config,
    say,
    summarize,
    sync,
)
from benchmarks.workers import Worker, alternate_workers, receive, send, serve  # noqa: E402
from minirl.config_checks import at_least  # noqa: E402

SCRIPT = Path(__file__).resolve()
COLUMNS = [
    "seconds_per_step",
    "rollout_seconds",
    "train_seconds",
    "rollout_tokens_per_s",
    "train_tokens_per_s",
    "mean_completion_length",
    "peak_rss_mib",
]


class TrlSide:
    """TRL's GRPOTrainer on the same work: its ``train()`` runs in this process and a callback holds it before each
    step until the parent asks for one (``requests()`` returns ``step``); each step's row goes to ``reply``."""

    name = "trl"

    def __init__(self, args, model, tok, steps: int, bf16: bool, requests, reply):
        from transformers import TrainerCallback

        from minirl.backends.trl_backend import build_trl_trainer

        self.device = args.device
        self._out = tempfile.TemporaryDirectory(prefix="bench-trl-")
        cfg = run_config(args, self._out.name, steps)
        self.trainer = tr = build_trl_trainer(
            cfg, model, tok, bf16=bf16, disable_tqdm=True, logging_steps=10_000
        )
        self.gen_seconds = 0.0
        self.before_rollout = self.rollout_peaks = {}
        generate = tr._generate  # TRL's private method: the only place its rollout can be timed (docstring)

        def timed_generate(*a, **kw):
            sync(self.device)
            self.before_rollout = peaks(self.device)  # the step's peak so far (start of the step to here)
            reset_peaks(self.device)
            t = time.perf_counter()
            try:
                return generate(*a, **kw)
            finally:
                sync(self.device)
                self.gen_seconds += time.perf_counter() - t
                self.rollout_peaks = peaks(self.device)
                reset_peaks(self.device)  # the rest of the step: log-probs, loss, backward, optimizer

        tr._generate = timed_generate
        side = self

        class Stepper(TrainerCallback):
            def on_step_begin(self, a, state, control, **kw):
                if requests() != "step":
                    raise _Quit
                side.gen_seconds = 0.0
                side.tokens_before = state.num_input_tokens_seen
                reset_peaks(side.device)
                sync(side.device)
                side.t0 = time.perf_counter()

            def on_step_end(self, a, state, control, **kw):
                sync(side.device)
                seconds = time.perf_counter() - side.t0
                lengths = tr._metrics["train"]["completions/mean_length"]
                mean_len = float(lengths[-1]) if lengths else float("nan")
                n = tr.args.per_device_train_batch_size  # prompts x G sequences, one generation batch
                reply(
                    {
                        "seconds": seconds,
                        "rollout_seconds": side.gen_seconds,
                        "generated_tokens": round(mean_len * n),
                        "train_tokens": int(state.num_input_tokens_seen - side.tokens_before),
                        "mean_completion_length": mean_len,
                        "sequences": n,
                        **side.step_peaks(),
                    }
                )

        tr.add_callback(Stepper())

    def step_peaks(self) -> dict:
        """The step's peaks (the largest of its three parts), and per phase ``memory_gib``: the rollout (TRL's
        ``_generate``) and the rest of the step (``training``)."""
        rest = peaks(self.device)
        parts = [self.before_rollout, self.rollout_peaks, rest]
        key = "peak_vram_mib" if "peak_vram_mib" in rest else "peak_rss_mib"
        out = {k: max(p[k] for p in parts) for k in rest}
        out["memory_gib"] = {"rollout": self.rollout_peaks[key] / 1024, "training": rest[key] / 1024}
        out["memory_gib"]["peak"] = out[key] / 1024
        return out

    def run(self) -> None:
        """TRL's ``train()``, until the parent says ``quit``."""
        with contextlib.suppress(_Quit):
            self.trainer.train()


class _Quit(Exception):
    """The parent asked the TRL worker to stop."""


def worker(args) -> None:
    """One side in this process, serving the parent's step requests (``benchmarks.workers.serve``)."""
    import torch

    torch.manual_seed(args.seed)
    model, tok = build_model(args)
    if args.worker == "minirl":
        side = MinirlSide(args, model, tok, args.warmup + args.steps + 1)
        serve(side.step, engine=side.engine)
        return
    bf16 = args.worker == "trl-bf16"
    # + 1: the parent's "quit" arrives at the start of a step
    steps = (args.trl_bf16_steps + 1) if bf16 else args.warmup + args.steps + 1
    trl = TrlSide(args, model, tok, steps, bf16, receive, send)
    send({"ready": True, "peak_rss_mib": peak_rss_mib()})
    trl.run()


def ratios(mini: dict, trl: dict) -> dict:
    """minirl / TRL: >1 means minirl is better for speeds (``speedup``), <1 for memory."""
    return {
        "step_speedup": trl["seconds_per_step"] / mini["seconds_per_step"],
        "rollout_tokens_per_s": mini["rollout_tokens_per_s"] / trl["rollout_tokens_per_s"],
        "train_tokens_per_s": mini["train_tokens_per_s"] / trl["train_tokens_per_s"],
        "peak_rss": mini["peak_rss_mib"] / trl["peak_rss_mib"],
        **({"peak_vram": mini["peak_vram_mib"] / trl["peak_vram_mib"]} if "peak_vram_mib" in trl else {}),
    }


def measure(args, argv: list[str]) -> dict:
    """Alternate minirl and TRL, one step at a time, each in its own process; then TRL bf16=True if asked."""
    have_trl = all(importlib.util.find_spec(m) is not None for m in ("trl", "datasets"))
    kinds = ["minirl"] + (["trl"] if have_trl and not args.minirl_only else [])
    if not have_trl:
        say("TRL is not installed here: measuring minirl only.")
    workers = {k: Worker(SCRIPT, k, argv) for k in kinds}
    try:
        rows = alternate_workers(workers, args.warmup, args.steps)
    finally:
        for w in workers.values():
            w.close()
    result = {"minirl_engine": workers["minirl"].ready["engine"], "per_step": rows}
    result["summary"] = {k: summarize(v) for k, v in rows.items()}
    if "trl" in rows:
        result["ratios_minirl_over_trl"] = ratios(result["summary"]["minirl"], result["summary"]["trl"])
    if "trl" in kinds and args.trl_bf16_steps:
        w = Worker(SCRIPT, "trl-bf16", argv)
        try:  # no warm-up: at ~345 s a step on a CPU, TRL's first-step overhead (~0.3 s) is noise
            bf = [w.step() for _ in range(args.trl_bf16_steps)]
        finally:
            w.close()
        result["per_step"]["trl_bf16"] = bf
        result["summary"]["trl_bf16"] = summarize(bf)
        result["ratios_minirl_over_trl_bf16"] = ratios(
            result["summary"]["minirl"], result["summary"]["trl_bf16"]
        )
        say(f"trl bf16=True: {result['summary']['trl_bf16']['seconds_per_step']:.1f} s/step")
    return result


def print_result(result: dict) -> None:
    """The summary table, the ratios and minirl's profile."""
    summ = result["summary"]
    print(f"minirl rollout engine: {result['minirl_engine']}")
    print_table(summ, COLUMNS + (["peak_vram_mib"] if "peak_vram_mib" in summ["minirl"] else []))
    for key in ("ratios_minirl_over_trl", "ratios_minirl_over_trl_bf16"):
        for k, v in result.get(key, {}).items():
            print(f"{key.removeprefix('ratios_')} {k}: {v:.2f}")
    prof = summ["minirl"].get("profile_seconds")
    if prof:
        print("minirl profile (s/step): " + ", ".join(f"{k} {v:.2f}" for k, v in prof.items()))


@dataclass
class StepArgs(MinirlOptions, BenchArgs):
    """The same GRPO step through minirl's GRPOTrainer and TRL's GRPOTrainer, side by side in one run."""

    trl_bf16_steps: int = 0
    """Also time TRL with bf16=True (this many steps, no warm-up)."""
    minirl_only: bool = False
    """Skip TRL even when it is installed."""
    worker: Literal["minirl", "trl", "trl-bf16"] | None = None
    """Internal: run one side in this process, driven by the parent over stdin/stdout."""

    def __post_init__(self):
        super().__post_init__()
        at_least("", self, trl_bf16_steps=0)


def main(argv: list[str] | None = None) -> dict | None:
    """Run the benchmark (or, with the internal ``--worker``, one side of it) and return the result."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_options(StepArgs, argv)
    check_device(args)
    if args.worker:
        worker(args)
        return None
    started = time.perf_counter()
    result = measure(args, argv)
    print_result(result)
    return finish({"benchmark": "step", **result}, args, started)


if __name__ == "__main__":
    main()
