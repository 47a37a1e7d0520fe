"""What the benchmark scripts of this folder share: measurements, the machine, the model, minirl's run config of the
benchmark work, and the JSON / table output (the worker-process protocol is ``workers.py``).

Each benchmark is its own script (``step.py``, ``rollout.py``, ``scaling.py``, ``sweep.py``, ``decode.py``). None of
them patches minirl: minirl's phase times and token counts are read from the metrics that
``GRPOTrainer.train_step`` returns (``time/rollout``, ``time/score``, ``time/frozen_logps``, ``time/forward_backward``,
``time/optimizer``, ``tokens/generated``, ``tokens/prompt``).

Memory: peak RSS is ``VmHWM`` from ``/proc/self/status``, reset before each measured step or run
(``echo 5 > /proc/self/clear_refs``, Linux >= 4.0), so it is that step's peak with the weights and optimizer state
included; on CUDA also ``torch.cuda.max_memory_allocated``. When two sides' memory is compared, each side runs in its
own worker process (``workers.py``) and the parent drives them alternately, one step at a time, so the two never run
at once and one side's peak never includes the other's.

Fixed-length rollouts (:func:`without_eos`): EOS is taken out of the stop tokens of the model's generation config and
of a copy of the tokenizer, so every row of every side decodes exactly ``max_new_tokens`` tokens (the sampled
distribution is unchanged: EOS can still be drawn, it just does not end the row).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from minirl.config_checks import ConfigError, _check, at_least  # noqa: E402

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
"""The Qwen2.5-0.5B architecture (494M parameters), built with random weights by ``--arch qwen2.5-0.5b``."""


def say(message: str) -> None:
    """One progress line on stdout, flushed (the benchmarks run for minutes)."""
    print(f"[bench] {message}", flush=True)


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


def sync(device: str) -> None:
    """Wait for the device's queued work (CUDA); a no-op on the CPU."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def reset_peaks(device: str) -> None:
    """Reset the peak RSS and, on CUDA, the peak allocated memory."""
    reset_peak_rss()
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peaks(device: str) -> dict[str, float]:
    """``peak_rss_mib`` and, on CUDA, ``peak_vram_mib`` since the last :func:`reset_peaks`."""
    out = {"peak_rss_mib": peak_rss_mib()}
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        out["peak_vram_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


class Stopwatch:
    """Wall time of a ``with`` block, with the device synchronised at both ends: ``with Stopwatch(dev) as sw: ...``
    then ``sw.seconds``."""

    def __init__(self, device: str):
        self.device = device
        self.seconds = float("nan")

    def __enter__(self) -> Stopwatch:
        sync(self.device)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        sync(self.device)
        self.seconds = time.perf_counter() - self._t0


def autocast(device: str):
    """The precision minirl computes in on ``device``: bf16 autocast on CUDA (fp32 master weights), none on the CPU."""
    import torch

    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------------------------------
# The machine


def _cpuinfo() -> tuple[str | None, set[str]]:
    """The CPU's model name and its feature flags, from ``/proc/cpuinfo`` (``(None, set())`` elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, set()
    name = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
    return (name.group(1).strip() if name else None), set(flags.group(1).split() if flags else ())


def machine() -> dict:
    """What the numbers were measured on: CPU model and vector extensions, cores, memory, GPU, library versions."""
    import torch
    import transformers

    from minirl.rollout.engines import cpu_has_native_bf16

    model_name, flags = _cpuinfo()
    info = {
        "platform": platform.platform(),
        "cpu": model_name or platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_native_bf16_amx": cpu_has_native_bf16(),
        "cpu_avx2": "avx2" in flags,
        "cpu_avx512_flags": sorted(f for f in flags if f.startswith("avx512")),
        "cpu_amx_flags": sorted(f for f in flags if f.startswith("amx")),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the kernels torch dispatches to
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    with contextlib.suppress(AttributeError):
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError, AttributeError):
        kib = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)
        info["memory_gib"] = round(int(kib) / 2**20, 1)
    with contextlib.suppress(ImportError):
        import trl

        info["trl"] = trl.__version__
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# ---------------------------------------------------------------------------------------------------------------------
# Command line, model, prompts and minirl's config of the work


@dataclass
class BenchArgs:
    """The options every benchmark has (model, device, work size, repeats, seed, output)."""

    model: str = "smollm2-135m"
    """Alias or checkpoint directory (as ``--model.name``)."""
    arch: Literal["qwen2.5-0.5b"] | None = None
    """Build this architecture with random weights instead of loading ``model``."""
    device: str = "cpu"
    """``cpu`` or ``cuda``."""
    generations: int = 8
    """G completions per prompt."""
    max_new_tokens: int = 128
    """New tokens per completion at most."""
    warmup: int = 1
    """Untimed steps (or runs) per side first."""
    steps: int = 3
    """Timed steps (or runs) per side."""
    seed: int = 42
    """Seed of the model (``arch``), the prompts and the sampling."""
    out: str | None = None
    """Write the JSON result here."""

    def __post_init__(self):
        at_least("", self, generations=1, max_new_tokens=1, warmup=0, steps=1)
        if isinstance(self, MinirlOptions):
            check_minirl_options(self)


@dataclass
class MinirlOptions:
    """The options of minirl's GRPO work (rollout engine, prompts per step, loss); checked by :class:`BenchArgs`."""

    engine: str | None = None
    """minirl's rollout engine (``--rollout.engine``): ``exact``, ``bf16`` or ``auto`` (None: the config's default)."""
    prompts_per_step: int = 1
    """Distinct prompts per step, G completions each."""
    loss_type: str = "dapo"
    """``--grpo.loss_type``."""
    beta: float = 0.0
    """KL coefficient (0: no reference model on either side)."""


def check_minirl_options(args: MinirlOptions) -> None:
    """``args``'s :class:`MinirlOptions` checked against minirl's engines and loss types."""
    from minirl.config import LOSS_TYPES
    from minirl.rollout.engines import ENGINES

    engines = [e for e in ENGINES if e not in ("vllm", "minirl")]
    _check(
        args.engine is None or args.engine in engines, f"engine must be one of {engines}, got {args.engine!r}"
    )
    _check(
        args.loss_type in LOSS_TYPES, f"loss_type must be one of {list(LOSS_TYPES)}, got {args.loss_type!r}"
    )
    at_least("", args, prompts_per_step=1, beta=0)


@dataclass
class RolloutOptions:
    """The options of the rollout benchmarks: which minirl engines, and whether EOS ends a row."""

    engines: list[Literal["exact", "bf16", "auto"]] = field(default_factory=lambda: ["exact", "bf16"])
    """minirl rollout engines to measure, a YAML list, e.g. ``[exact, bf16]``."""
    stop_at_eos: bool = False
    """Let EOS end a row (lengths then differ between sides; rates stay per generated token). Default: EOS is not a
    stop token, every row decodes exactly ``max_new_tokens``."""


T = TypeVar("T")


def parse_options(cls: type[T], argv: list[str] | None) -> T:
    """``argv`` (default ``sys.argv[1:]``) parsed into ``cls``, a dataclass of the script's options, as
    ``python -m minirl.eval`` parses (:func:`minirl.config_parse.parse_fields`, jsonargparse): a value is YAML
    (``--engines '[exact, bf16]'``, ``--stop_at_eos true``), ``--config FILE.yaml`` reads options from a file, and a
    mistake ends with a one-line ``error: ...`` and exit code 2."""
    from minirl.config_parse import parse_fields

    try:
        return parse_fields(cls, list(sys.argv[1:] if argv is None else argv))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def check_device(args) -> None:
    """Stop with a one-line message when ``--device cuda`` is asked for and no GPU is visible."""
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is visible here")


def qwen25_05b(seed: int):
    """``(model, tokenizer)``: the Qwen2.5-0.5B architecture with random fp32 weights (seeded, on the CPU) and
    minirl's byte tokenizer (no Hub needed; ids it lacks decode to nothing)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from minirl.testing import make_tiny_tokenizer

    tok = make_tiny_tokenizer()
    config = Qwen2Config(**QWEN25_05B, bos_token_id=1, eos_token_id=tok.eos_token_id, pad_token_id=0)
    torch.manual_seed(seed)
    # fp32 master weights, as minirl's trainer keeps them; it computes in bf16 autocast on the GPU.
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


def build_model(args):
    """``(model, tokenizer)``: ``--model`` loaded as minirl loads it, or ``--arch`` built from its config (random)."""

    from minirl.models import load_model_and_tokenizer

    if args.arch is None:
        model, tok = load_model_and_tokenizer(args.model, device=args.device, dtype="fp32")
    else:
        model, tok = qwen25_05b(args.seed)
        model = model.to(args.device).eval()
    if tok.pad_token is None:  # as the trainer does
        tok.pad_token = tok.eos_token
    return model, tok


def gsm8k_prompts(tok, n: int, seed: int) -> list[str]:
    """``n`` GSM8K train questions rendered as minirl renders them (R1-Zero template, one-shot, ``<think>``)."""
    from minirl.tasks import PromptStyle, build_prompt, get_task

    task = get_task("gsm8k")
    return [build_prompt(ex, tok, PromptStyle(), task=task) for ex in task.examples("train", n=n, seed=seed)]


def without_eos(model, tok):
    """A copy of ``tok`` without an EOS token, with EOS also removed from ``model``'s generation config (in place),
    so that minirl's decode loop and HF ``generate`` both decode every row to ``max_new_tokens``."""
    model.generation_config.eos_token_id = None
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    fixed = copy.deepcopy(tok)
    fixed.eos_token = None
    return fixed


def engine_run(engine, tok, prompts: list[str], args, generator) -> Callable[[], int]:
    """A rollout of ``prompts`` x ``--generations`` x ``--max_new_tokens`` through ``engine`` (temperature 1, top-p 1,
    no stop strings), as a callable returning the number of tokens it generated."""

    def run() -> int:
        roll = engine.generate(
            tok,
            prompts,
            num_generations=args.generations,
            max_new_tokens=args.max_new_tokens,
            temperature=1.0,
            top_p=1.0,
            stop_strings=(),
            generator=generator,
        )
        return int(roll.lengths.sum())

    return run


def rollout_setup(args):
    """``(model, tokenizer for the runs, {engine name: engine})`` of a rollout benchmark (``--engines``), lengths
    fixed unless ``--stop_at_eos``."""
    from minirl.rollout.engines import make_engine

    model, tok = build_model(args)
    run_tok = tok if args.stop_at_eos else without_eos(model, tok)
    run_tok.padding_side = "left"
    # after without_eos: the bf16 engine copies the model, its generation config included
    return model, run_tok, {name: make_engine(name, model, args.device) for name in args.engines}


def run_config(args, out_dir: str, steps: int, generations: int | None = None, max_new: int | None = None):
    """The minirl :class:`TrainConfig` of the benchmark's GRPO work (TRL's side is built from the same config)."""
    from minirl import config as c

    engine = {} if args.engine is None else {"engine": args.engine}  # else the config's default
    rollout = c.RolloutConfig(
        num_generations=generations or args.generations,
        prompts_per_step=args.prompts_per_step,
        max_new_tokens=max_new or args.max_new_tokens,
        stop_at_answer=False,  # TRL stops at EOS only
        **engine,
    )
    return c.TrainConfig(
        model=c.ModelConfig(name=args.model, device=args.device),
        data=c.DataConfig(task="gsm8k", eval_size=0),
        rollout=rollout,
        grpo=c.GRPOConfig(loss_type=args.loss_type, beta=args.beta),
        run=c.RunConfig(max_steps=steps, seed=args.seed, output_dir=out_dir, sample_every=0, preflight=False),
        checkpoint=c.CheckpointConfig(save_model=False),
        eval=c.EvalConfig(at_end=False),
    )


class MinirlSide:
    """minirl's trainer on the benchmark work, stepped by hand; each step's times and token counts are the trainer's
    own metrics, and the step's wall time (device synchronised) is measured around ``train_step``."""

    name = "minirl"

    def __init__(self, args, model, tok, steps: int, generations=None, max_new=None):
        from minirl.rollout.engines import resolve_engine
        from minirl.trainer import GRPOTrainer

        self.device = args.device
        self._out = tempfile.TemporaryDirectory(prefix="bench-minirl-")
        cfg = run_config(args, self._out.name, steps, generations, max_new)
        self.engine = resolve_engine(cfg.rollout.engine, args.device)
        self.trainer = GRPOTrainer(cfg, model, tok)

    def step(self) -> dict:
        """One GRPO step: wall seconds, the trainer's phase times, token counts and peak memory."""
        tr = self.trainer
        reset_peaks(self.device)
        with Stopwatch(self.device) as sw:
            metrics = tr.train_step()
        tr.step += 1
        phases = {k.removeprefix("time/"): v for k, v in metrics.items() if k.startswith("time/")}
        phases["other"] = max(0.0, sw.seconds - sum(phases.values()))
        generated = int(metrics["tokens/generated"])
        rows = tr.cfg.rollout.prompts_per_step * tr.cfg.rollout.num_generations
        row = {
            "seconds": sw.seconds,
            "rollout_seconds": metrics["time/rollout"],
            "generated_tokens": generated,
            "train_tokens": int(metrics["tokens/prompt"]) + generated,
            "mean_completion_length": generated / rows,
            "sequences": rows,
            "phases": phases,
            **peaks(self.device),
        }
        # The trainer measures each phase's peak itself (resetting the peak between phases, so the peak read around
        # the whole step would be the last phase's): its largest is the step's peak.
        memory = {
            k.removeprefix("memory/").removesuffix("_gib"): v
            for k, v in metrics.items()
            if k.startswith("memory/")
        }
        if memory:
            row["memory_gib"] = memory
            row["peak_vram_mib" if self.device.startswith("cuda") else "peak_rss_mib"] = memory["peak"] * 1024
        return row


# ---------------------------------------------------------------------------------------------------------------------
# Summaries


def mean_of(rows: list[dict], key: str) -> float:
    """Mean of ``key`` over the rows that have a number there (NaN when none do).

    >>> mean_of([{"s": 1.0}, {"s": 3}, {}], "s")
    2.0
    """
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return sum(vals) / len(vals) if vals else float("nan")


def summarize(rows: list[dict]) -> dict:
    """Means over timed steps: seconds, tokens/s of rollout and training, peak memory, and the per-phase profile."""
    out = {
        "steps": len(rows),
        "seconds_per_step": mean_of(rows, "seconds"),
        "rollout_seconds": mean_of(rows, "rollout_seconds"),
        "train_seconds": mean_of(rows, "seconds") - mean_of(rows, "rollout_seconds"),
        "mean_completion_length": mean_of(rows, "mean_completion_length"),
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


def alternate_runs(
    runs: dict[str, Callable[[], int]], warmup: int, steps: int, device: str
) -> dict[str, list]:
    """Call each run in turn, ``warmup`` untimed rounds then ``steps`` timed ones (a, b, a, b, ...); each run returns
    the tokens it generated. Returns ``{name: [{seconds, tokens, tokens_per_s, peak_rss_mib, ...}]}``."""
    import torch

    rows: dict[str, list[dict]] = {k: [] for k in runs}
    for i in range(warmup + steps):
        for name, fn in runs.items():
            reset_peaks(device)
            with torch.no_grad(), autocast(device), Stopwatch(device) as sw:
                tokens = fn()
            say(f"{name:16s} run {i + 1}: {tokens} tokens in {sw.seconds:.2f} s")
            if i >= warmup:
                rows[name].append(
                    {
                        "seconds": sw.seconds,
                        "tokens": tokens,
                        "tokens_per_s": tokens / sw.seconds,
                        **peaks(device),
                    }
                )
    return rows


def rate_summary(rows: list[dict]) -> dict:
    """Mean seconds and tokens of timed runs, tokens/s over all of them, and the peak RSS."""
    return {
        "seconds": mean_of(rows, "seconds"),
        "tokens": mean_of(rows, "tokens"),
        "tokens_per_s": sum(r["tokens"] for r in rows) / sum(r["seconds"] for r in rows),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in rows),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Output


def print_table(summary: dict[str, dict], cols: list[str], width: int = 24) -> None:
    """A plain-text table: one row per side, one column per key (missing values print as nan)."""
    first = max([len(k) for k in summary] + [10]) + 2
    print(f"{'':{first}s}" + "".join(f"{c[: width - 2]:>{width}s}" for c in cols))
    for name, s in summary.items():
        print(f"{name:{first}s}" + "".join(f"{s.get(c, float('nan')):{width}.2f}" for c in cols))


def finish(result: dict, args, started: float) -> dict:
    """Add the settings, the machine and the wall time to ``result`` and write it to ``--out`` as JSON."""
    result["settings"] = {k: v for k, v in vars(args).items() if k not in ("worker", "out")}
    result["machine"] = machine()
    result["wall_seconds"] = time.perf_counter() - started
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        say(f"wrote {args.out}")
    return result
