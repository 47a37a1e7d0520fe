"""Speed and memory of minirl against TRL on the same GRPO work, measured side by side (issue #9).

Modes:

- ``step`` (default): the same GRPO step through minirl's ``GRPOTrainer.train_step`` and TRL's ``GRPOTrainer``:
  same model, same GSM8K train prompts in the same order (R1-Zero template, one-shot, ``<think>`` prefill, ~138
  tokens), G completions x ``--max-new-tokens``, same loss type, beta, rewards, fp32 on the CPU. Each side lives in
  its own worker process (so peak RSS is per side, not the max of both); the parent drives them alternately, one step
  at a time: ``--warmup`` untimed steps each, then ``--steps`` timed steps, minirl, TRL, minirl, TRL, ...
  ``--trl-bf16-steps K`` adds K steps of TRL with its default ``bf16=True`` (345 s per step on a 2-core CPU).
  minirl's steps are also profiled by phase (rollout, rewards, reference / old log-probs, forward, backward,
  optimizer).
- ``rollout``: minirl's decode loop (``minirl.rollout.generate``) against HF ``model.generate`` on one prompt x G
  samples x ``--max-new-tokens``, alternately, tokens/s.
- ``sweep``: minirl step time over completion length and G (a small grid).
- ``decode``: what bounds a decode step: memory copy bandwidth, the weights' size, one decode step at batch 1 / G /
  2G, and the sampler against ``torch.multinomial``.

Fairness: minirl's ``</answer>`` stop string is off (TRL stops at EOS only), both cap completions at the same length
and sample with temperature 1, top-p 1, no top-k. Completions still end at EOS at different places on the two sides
(different random streams), so lengths are recorded and rates are per generated token.

    python benchmarks/perf.py --out docs/results/benchmarks/cpu_step.json                 # ~12 min on 2 cores
    python benchmarks/perf.py --mode rollout --out docs/results/benchmarks/cpu_rollout.json
    python benchmarks/perf.py --mode sweep --out docs/results/benchmarks/cpu_sweep.json
    python benchmarks/perf.py --device cuda --arch qwen2.5-0.5b                           # GPU, minirl only w/o TRL

Time splits: minirl logs ``rollout_time`` itself; for TRL we time its ``_generate`` (tokenize + ``model.generate``
+ decode). "Training" is the rest of the step on both sides (rewards, advantages, log-probs, backward, optimizer).
Training tokens are the prompt + completion tokens of the step's N sequences (TRL's ``num_input_tokens_seen``), the
same count for both even though minirl runs each distinct prompt once. Peak RSS is ``VmHWM`` from
``/proc/self/status``, reset before each step (``echo 5 > /proc/self/clear_refs``), so it is the step's peak,
weights and optimizer state included; on CUDA, ``torch.cuda.max_memory_allocated`` too.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

PREFIX = "@@perf "  # worker -> parent protocol lines on stdout (libraries print there too)
QWEN25_05B = dict(
    hidden_size=896,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    intermediate_size=4864,
    vocab_size=151936,
    tie_word_embeddings=True,
    rope_theta=1_000_000.0,
    max_position_embeddings=32768,
)


# ---------------------------------------------------------------------------------------------------------------------
# Measurements


def peak_rss_mib() -> float:
    """This process's peak resident memory since start or the last :func:`reset_peak_rss` (MiB)."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
    except (OSError, AttributeError):  # not Linux: lifetime peak only
        import resource

        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def reset_peak_rss() -> None:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); elsewhere a no-op and the peak is the lifetime one."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def reset_peaks(device: str) -> None:
    reset_peak_rss()
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peaks(device: str) -> dict[str, float]:
    out = {"peak_rss_mib": peak_rss_mib()}
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        out["peak_vram_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


class PhaseTimer:
    """Wall time per named phase, accumulated by wrapping callables: ``obj.f = timer.wrap("name", obj.f)``."""

    def __init__(self, device: str):
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, name, fn, when=None):
        """``fn`` timed under ``name``; ``when()`` (optional) decides per call whether it counts."""

        def timed(*args, **kwargs):
            if when is not None and not when():
                return fn(*args, **kwargs)
            sync(self.device)
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                sync(self.device)
                self.seconds[name] += time.perf_counter() - t

        return timed

    def take(self) -> dict[str, float]:
        out, self.seconds = dict(self.seconds), defaultdict(float)
        return out


# ---------------------------------------------------------------------------------------------------------------------
# Model, config and the two sides


def build_model(args):
    """``(model, tokenizer)``: ``--model`` loaded as minirl loads it, or ``--arch`` built from its config (random)."""
    import torch

    from minirl.models import load_model_and_tokenizer

    if args.arch is None:
        return load_model_and_tokenizer(args.model, device=args.device, dtype="fp32")
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from minirl.testing import make_tiny_tokenizer

    tok = make_tiny_tokenizer()  # no hub here: a byte tokenizer; ids it lacks decode to nothing
    config = Qwen2Config(**QWEN25_05B, bos_token_id=1, eos_token_id=tok.eos_token_id, pad_token_id=0)
    torch.manual_seed(args.seed)
    # fp32 master weights, as minirl's trainer keeps them; it computes in bf16 autocast on the GPU.
    model = Qwen2ForCausalLM(config).to(args.device).eval()
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


def run_config(args, out_dir: str, steps: int, generations: int | None = None, max_new: int | None = None):
    """The minirl :class:`TrainConfig` of the benchmark's GRPO work."""
    from minirl.config import parse_args

    return parse_args(
        [
            "--model.name",
            args.model,
            "--model.device",
            args.device,
            "--data.task",
            "gsm8k",
            "--data.eval_size",
            "0",
            "--rollout.num_generations",
            str(generations or args.generations),
            "--rollout.prompts_per_step",
            "1",
            "--rollout.max_new_tokens",
            str(max_new or args.max_new_tokens),
            "--rollout.stop_at_answer",
            "false",  # TRL stops at EOS only
            "--grpo.loss_type",
            args.loss_type,
            "--grpo.beta",
            str(args.beta),
            "--run.max_steps",
            str(steps),
            "--run.seed",
            str(args.seed),
            "--run.output_dir",
            out_dir,
            "--run.sample_every",
            "0",
            "--run.preflight",
            "false",
            "--checkpoint.save_model",
            "false",
            "--eval.at_end",
            "false",
        ]
    )


class MinirlSide:
    """minirl's trainer, stepped by hand; its phases are timed by wrapping its methods."""

    name = "minirl"

    def __init__(self, args, model, tok, steps: int, generations=None, max_new=None, profile: bool = True):
        import torch

        from minirl.trainer import GRPOTrainer

        self.device = args.device
        self.out = tempfile.mkdtemp(prefix="perf-minirl-")
        self.trainer = tr = GRPOTrainer(run_config(args, self.out, steps, generations, max_new), model, tok)
        self.timer = PhaseTimer(args.device)
        self._roll = None

        def rollout(*a, **kw):
            self._roll = roll = rollout_fn(*a, **kw)
            return roll

        rollout_fn = tr.rollout
        tr.rollout = rollout
        if profile:
            t = self.timer
            tr.rollout = t.wrap("rollout", tr.rollout)
            tr.score = t.wrap("rewards", tr.score)
            frozen = tr._frozen_logps
            tr._frozen_logps = lambda which, batch: t.wrap(f"{which}_logprobs", frozen)(which, batch)
            tr._logps = t.wrap("forward", tr._logps, when=torch.is_grad_enabled)  # training forwards only
            tr.accelerator.backward = t.wrap("backward", tr.accelerator.backward)
            tr.accelerator.clip_grad_norm_ = t.wrap("optimizer", tr.accelerator.clip_grad_norm_)
            tr.optimizer.step = t.wrap("optimizer", tr.optimizer.step)

    def step(self) -> dict:
        tr = self.trainer
        reset_peaks(self.device)
        sync(self.device)
        t0 = time.perf_counter()
        metrics = tr.train_step()
        sync(self.device)
        seconds = time.perf_counter() - t0
        tr.step += 1
        roll = self._roll
        gen_tokens = int(roll.lengths.sum())
        phases = self.timer.take()
        if phases:
            phases["other"] = max(0.0, seconds - sum(phases.values()))
        return {
            "seconds": seconds,
            "rollout_seconds": metrics["rollout_time"],
            "generated_tokens": gen_tokens,
            "train_tokens": int(roll.prompt_mask.sum()) + gen_tokens,
            "mean_completion_length": gen_tokens / roll.lengths.numel(),
            "phases": phases,
            **peaks(self.device),
        }


class TrlSide:
    """TRL's GRPOTrainer on the same work: its ``train()`` runs in this process and a callback holds it before each
    step until the parent asks for one."""

    name = "trl"

    def __init__(self, args, model, tok, steps: int, bf16: bool, requests, reply):
        from transformers import TrainerCallback

        from minirl.backends.trl_backend import build_trl_trainer

        self.device = args.device
        cfg = run_config(args, tempfile.mkdtemp(prefix="perf-trl-"), steps)
        self.trainer = tr = build_trl_trainer(
            cfg, model, tok, bf16=bf16, disable_tqdm=True, logging_steps=10_000
        )
        self.gen_seconds = 0.0
        generate = tr._generate

        def timed_generate(*a, **kw):
            sync(self.device)
            t = time.perf_counter()
            try:
                return generate(*a, **kw)
            finally:
                sync(self.device)
                self.gen_seconds += time.perf_counter() - t

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
                n = tr.args.per_device_train_batch_size
                reply(
                    {
                        "seconds": seconds,
                        "rollout_seconds": side.gen_seconds,
                        "generated_tokens": round(mean_len * n),
                        "train_tokens": int(state.num_input_tokens_seen - side.tokens_before),
                        "mean_completion_length": mean_len,
                        **peaks(side.device),
                    }
                )

        tr.add_callback(Stepper())

    def run(self) -> None:
        with contextlib.suppress(_Quit):
            self.trainer.train()


class _Quit(Exception):
    """The parent asked the TRL worker to stop."""


# ---------------------------------------------------------------------------------------------------------------------
# Worker processes (one per side, so that each has its own peak RSS) and the parent that alternates them


def worker(args) -> None:
    """Serve steps on stdin/stdout: the parent writes ``step`` or ``quit``; we answer one ``@@perf {json}`` line."""
    import torch

    def send(obj) -> None:
        print(PREFIX + json.dumps(obj), flush=True)

    def receive() -> str:
        return sys.stdin.readline().strip()

    torch.manual_seed(args.seed)
    model, tok = build_model(args)
    total = args.warmup + args.steps + 1
    if args.worker == "minirl":
        side = MinirlSide(args, model, tok, total)
        send({"ready": True, "peak_rss_mib": peak_rss_mib()})
        while receive() == "step":
            send(side.step())
        return
    bf16 = args.worker == "trl-bf16"
    steps = (args.trl_bf16_steps + 1) if bf16 else total  # + 1: the parent's "quit" arrives at a step start
    side = TrlSide(args, model, tok, steps, bf16, receive, send)
    send({"ready": True, "peak_rss_mib": peak_rss_mib()})
    side.run()


class Worker:
    """A worker subprocess for one side."""

    def __init__(self, kind: str, argv: list[str]):
        cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--worker", kind]
        self.kind = kind
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.ready = self._read()

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX) :])
            print(f"[{self.kind}] {line}", end="", flush=True)  # the worker's own output
        raise RuntimeError(
            f"the {self.kind} worker exited with code {self.proc.wait()} (its stderr is above)"
        )

    def step(self) -> dict:
        self.proc.stdin.write("step\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return sum(vals) / len(vals) if vals else float("nan")


def summarize(rows: list[dict]) -> dict:
    """Means over timed steps: seconds, tokens/s of rollout and training, peak memory."""
    out = {
        "steps": len(rows),
        "seconds_per_step": _mean(rows, "seconds"),
        "rollout_seconds": _mean(rows, "rollout_seconds"),
        "train_seconds": _mean(rows, "seconds") - _mean(rows, "rollout_seconds"),
        "mean_completion_length": _mean(rows, "mean_completion_length"),
        "rollout_tokens_per_s": sum(r["generated_tokens"] for r in rows)
        / sum(r["rollout_seconds"] for r in rows),
        "train_tokens_per_s": sum(r["train_tokens"] for r in rows)
        / sum(r["seconds"] - r["rollout_seconds"] for r in rows),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in rows),
    }
    if any("peak_vram_mib" in r for r in rows):
        out["peak_vram_mib"] = max(r.get("peak_vram_mib", 0.0) for r in rows)
    phases: dict[str, float] = defaultdict(float)
    for r in rows:
        for k, v in r.get("phases", {}).items():
            phases[k] += v / len(rows)
    if phases:
        out["profile_seconds"] = dict(phases)
    return out


def ratios(mini: dict, trl: dict) -> dict:
    """minirl / TRL: >1 means minirl is better for speeds (``speedup``), <1 for memory."""
    return {
        "step_speedup": trl["seconds_per_step"] / mini["seconds_per_step"],
        "rollout_tokens_per_s": mini["rollout_tokens_per_s"] / trl["rollout_tokens_per_s"],
        "train_tokens_per_s": mini["train_tokens_per_s"] / trl["train_tokens_per_s"],
        "peak_rss": mini["peak_rss_mib"] / trl["peak_rss_mib"],
        **({"peak_vram": mini["peak_vram_mib"] / trl["peak_vram_mib"]} if "peak_vram_mib" in trl else {}),
    }


def forward_argv(args) -> list[str]:
    """The options a worker needs, as command-line arguments."""
    argv = ["--model", args.model, "--device", args.device, "--seed", str(args.seed)]
    argv += ["--generations", str(args.generations), "--max-new-tokens", str(args.max_new_tokens)]
    argv += ["--loss-type", args.loss_type, "--beta", str(args.beta)]
    argv += [
        "--warmup",
        str(args.warmup),
        "--steps",
        str(args.steps),
        "--trl-bf16-steps",
        str(args.trl_bf16_steps),
    ]
    return argv + (["--arch", args.arch] if args.arch else [])


def mode_step(args) -> dict:
    """Alternate minirl and TRL, one step at a time, each in its own process."""
    have_trl = (
        importlib.util.find_spec("trl") is not None and importlib.util.find_spec("datasets") is not None
    )
    kinds = ["minirl"] + (["trl"] if have_trl and not args.minirl_only else [])
    if not have_trl:
        print("[perf] TRL is not installed here: measuring minirl only.", flush=True)
    workers = {k: Worker(k, forward_argv(args)) for k in kinds}
    rows: dict[str, list[dict]] = {k: [] for k in kinds}
    try:
        for i in range(args.warmup + args.steps):
            for k in kinds:
                row = workers[k].step()
                label = "warm-up" if i < args.warmup else "timed"
                print(f"[perf] {k:7s} step {i + 1} ({label}): {row['seconds']:.1f} s", flush=True)
                if i >= args.warmup:
                    rows[k].append(row)
    finally:
        for w in workers.values():
            w.close()
    result = {"per_step": rows, "summary": {k: summarize(v) for k, v in rows.items()}}
    if "trl" in rows:
        result["ratios_minirl_over_trl"] = ratios(result["summary"]["minirl"], result["summary"]["trl"])
    if have_trl and args.trl_bf16_steps and not args.minirl_only:
        w = Worker("trl-bf16", forward_argv(args))
        try:  # no warm-up: at ~345 s a step on a CPU, TRL's first-step overhead (~0.3 s) is noise
            bf = [w.step() for _ in range(args.trl_bf16_steps)]
        finally:
            w.close()
        result["per_step"]["trl_bf16"] = bf
        result["summary"]["trl_bf16"] = summarize(bf)
        print(
            f"[perf] trl bf16=True: {result['summary']['trl_bf16']['seconds_per_step']:.1f} s/step",
            flush=True,
        )
    return result


def mode_rollout(args) -> dict:
    """minirl's decode loop against HF ``generate``, same prompt and batch, alternately."""
    import torch

    from minirl.rollout.generate import generate
    from minirl.tasks import PromptStyle, build_prompt, get_task

    model, tok = build_model(args)
    task = get_task("gsm8k")
    prompt = build_prompt(task.examples("train", n=1, seed=args.seed)[0], tok, PromptStyle(), task=task)
    g, n_new = args.generations, args.max_new_tokens
    enc = tok([prompt] * g, return_tensors="pt", add_special_tokens=False).to(args.device)
    gen = torch.Generator(device=args.device).manual_seed(args.seed)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if args.device.startswith("cuda")
        else contextlib.nullcontext()
    )

    def minirl_run():
        roll = generate(model, tok, [prompt], g, n_new, temperature=1.0, stop_strings=(), generator=gen)
        return int(roll.lengths.sum())

    eos = set(_eos(model, tok))

    def hf_run():
        out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=n_new)
        comp = out[:, enc["input_ids"].shape[1] :].tolist()
        return sum(next((j + 1 for j, t in enumerate(row) if t in eos), len(row)) for row in comp)

    rows: dict[str, list[dict]] = {"minirl": [], "hf_generate": []}
    for i in range(args.warmup + args.steps):
        for name, fn in (("minirl", minirl_run), ("hf_generate", hf_run)):
            reset_peaks(args.device)
            sync(args.device)
            t = time.perf_counter()
            with torch.no_grad(), autocast:
                tokens = fn()
            sync(args.device)
            dt = time.perf_counter() - t
            print(f"[perf] {name:11s} run {i + 1}: {tokens} tokens in {dt:.1f} s", flush=True)
            if i >= args.warmup:
                rows[name].append(
                    {"seconds": dt, "tokens": tokens, "tokens_per_s": tokens / dt, **peaks(args.device)}
                )
    summary = {
        k: {
            "seconds": _mean(v, "seconds"),
            "tokens": _mean(v, "tokens"),
            "tokens_per_s": sum(r["tokens"] for r in v) / sum(r["seconds"] for r in v),
        }
        for k, v in rows.items()
    }
    return {
        "prompt_tokens": int(enc["input_ids"].shape[1]),
        "per_run": rows,
        "summary": summary,
        "ratio_minirl_over_hf_tokens_per_s": summary["minirl"]["tokens_per_s"]
        / summary["hf_generate"]["tokens_per_s"],
    }


def _eos(model, tok) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    return [i for i in {*ids, tok.eos_token_id} if i is not None]


def mode_sweep(args) -> dict:
    """minirl step time over (G, completion length): ``--warmup`` steps in the first cell, then ``--steps`` timed
    steps per cell."""
    model, tok = build_model(args)
    cells = []
    for i, (g, n_new) in enumerate(args.grid):
        warmup = args.warmup if i == 0 else 0
        side = MinirlSide(args, model, tok, warmup + args.steps + 1, generations=g, max_new=n_new)
        for _ in range(warmup):
            side.step()
        rows = [side.step() for _ in range(args.steps)]
        s = summarize(rows)
        print(
            f"[perf] G={g:3d} max_new={n_new:4d}: {s['seconds_per_step']:.1f} s/step, "
            f"mean length {s['mean_completion_length']:.0f}",
            flush=True,
        )
        cells.append({"generations": g, "max_new_tokens": n_new, **s})
        del side
    return {"cells": cells}


def mode_decode(args) -> dict:
    """The floor of a decode step: bytes of weights read per step against the memory bandwidth, and batch scaling."""
    import torch

    from minirl.rollout.generate import sample_next_token
    from minirl.tasks import PromptStyle, build_prompt, get_task

    def median_ms(fn, reps: int = 8) -> float:
        fn()  # warm-up
        times = []
        for _ in range(reps):
            sync(args.device)
            t = time.perf_counter()
            fn()
            sync(args.device)
            times.append(time.perf_counter() - t)
        return 1000 * sorted(times)[len(times) // 2]

    def copy_gbps() -> float:
        src = torch.ones(64 * 2**20, device=args.device)  # 256 MiB
        dst = torch.empty_like(src)
        return 2 * src.numel() * 4 / median_ms(lambda: dst.copy_(src), 5) * 1e-6  # read + write

    out: dict = {"copy_GBps_read_plus_write": copy_gbps()}
    model, tok = build_model(args)
    out["weight_MB"] = sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
    task = get_task("gsm8k")
    prompt = build_prompt(task.examples("train", n=1, seed=args.seed)[0], tok, PromptStyle(), task=task)
    enc = tok([prompt], return_tensors="pt", add_special_tokens=False).to(args.device)
    out["prompt_tokens"] = int(enc["input_ids"].shape[1])
    with torch.no_grad():
        for batch in (1, args.generations, 2 * args.generations):
            cache = model(**enc, use_cache=True, logits_to_keep=1).past_key_values
            cache.batch_repeat_interleave(batch)
            ids = torch.full((batch, 1), 100, device=args.device)
            # no padding, so no mask: each call appends one position to the cache (cheap next to the weights)
            out[f"decode_step_ms_batch{batch}"] = median_ms(
                lambda ids=ids, cache=cache: model(input_ids=ids, past_key_values=cache, use_cache=True)
            )
    n = args.generations
    logits = torch.randn(n, model.config.vocab_size, device=args.device)
    gen = torch.Generator(device=args.device).manual_seed(args.seed)
    out["sample_ms_minirl"] = median_ms(lambda: sample_next_token(logits, 1.0, 1.0, gen), 20)
    out["sample_ms_multinomial"] = median_ms(
        lambda: torch.multinomial(torch.softmax(logits, -1), 1, generator=gen), 20
    )
    out["weights_GBps_at_batch1"] = out["weight_MB"] / out["decode_step_ms_batch1"]  # MB/ms = GB/s
    for k, v in out.items():
        print(f"[perf] {k}: {v:.2f}")
    return {"summary": out}


# ---------------------------------------------------------------------------------------------------------------------
# Report


def machine() -> dict:
    import torch
    import transformers

    info = {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    with contextlib.suppress(ImportError):
        import trl

        info["trl"] = trl.__version__
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def print_table(result: dict) -> None:
    """A plain-text table of the summary (and the ratios)."""
    summ = result.get("summary", {})
    if result["mode"] == "step":
        cols = [
            "seconds_per_step",
            "rollout_seconds",
            "train_seconds",
            "rollout_tokens_per_s",
            "train_tokens_per_s",
        ]
        cols += ["mean_completion_length", "peak_rss_mib"] + (
            ["peak_vram_mib"] if "peak_vram_mib" in summ.get("minirl", {}) else []
        )
        print(f"{'':10s}" + "".join(f"{c[:22]:>24s}" for c in cols))
        for k, s in summ.items():
            print(f"{k:10s}" + "".join(f"{s.get(c, float('nan')):24.2f}" for c in cols))
        for k, v in result.get("ratios_minirl_over_trl", {}).items():
            print(f"ratio {k}: {v:.2f}")
        prof = summ.get("minirl", {}).get("profile_seconds")
        if prof:
            print("minirl profile (s/step): " + ", ".join(f"{k} {v:.2f}" for k, v in prof.items()))
    elif result["mode"] == "rollout":
        for k, s in summ.items():
            print(
                f"{k:12s} {s['seconds']:8.2f} s  {s['tokens']:7.0f} tokens  {s['tokens_per_s']:8.1f} tokens/s"
            )
        print(f"ratio minirl/HF tokens/s: {result['ratio_minirl_over_hf_tokens_per_s']:.2f}")


def parse_grid(text: str) -> list[tuple[int, int]]:
    """``"4x64,8x128"`` -> ``[(4, 64), (8, 128)]`` (G x max new tokens).

    >>> parse_grid("4x64, 8x128")
    [(4, 64), (8, 128)]
    """
    try:
        return [
            (int(a), int(b)) for a, b in (cell.strip().split("x") for cell in text.split(",") if cell.strip())
        ]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--grid expects GxLEN pairs like 4x64,8x128, got {text!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=["step", "rollout", "sweep", "decode"], default="step")
    p.add_argument("--model", default="smollm2-135m", help="alias or checkpoint directory (as --model.name)")
    p.add_argument(
        "--arch", choices=["qwen2.5-0.5b"], default=None, help="build this architecture, random init"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--generations", type=int, default=8, help="G completions of the one prompt per step")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--loss-type", default="dapo", choices=["grpo", "dapo", "dr_grpo"])
    p.add_argument(
        "--beta", type=float, default=0.0, help="KL coefficient (0: no reference model on either side)"
    )
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--steps", type=int, default=3, help="timed steps (or runs) per side")
    p.add_argument(
        "--trl-bf16-steps", type=int, default=0, help="also time TRL with bf16=True (after 1 warm-up)"
    )
    p.add_argument("--minirl-only", action="store_true", help="skip TRL even when it is installed")
    p.add_argument("--grid", type=parse_grid, default=parse_grid("8x32,8x64,8x128,4x128,16x128"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=None, help="write the JSON result here")
    p.add_argument("--worker", choices=["minirl", "trl", "trl-bf16"], default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> dict | None:
    args = build_parser().parse_args(argv)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is visible here")
    if args.worker:
        worker(args)
        return None
    t = time.perf_counter()
    result = {"mode": args.mode}
    result.update(
        {
            "mode_step": mode_step,
            "mode_rollout": mode_rollout,
            "mode_sweep": mode_sweep,
            "mode_decode": mode_decode,
        }[f"mode_{args.mode}"](args)
    )
    result["settings"] = {k: v for k, v in vars(args).items() if k not in ("worker", "out")}
    result["machine"] = machine()
    result["wall_seconds"] = time.perf_counter() - t
    print_table(result)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"[perf] wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
