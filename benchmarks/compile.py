"""Would ``torch.compile`` of the decode step pay? One decode step of the bf16 sampler copy, three ways, side by side.

The rollout-engine issue proposed a static KV cache with ``torch.compile`` of the decode step: on a CPU, an eager
decode step spends part of its time in small element-wise operations (RMSNorm, rotary embedding, SiLU, residual adds;
the issue's figures: docs/benchmarks.md, the ``torch.compile`` paragraph) besides the weight matmuls, and the compiler
fuses those. This measures, at batch ``--generations`` after one GSM8K prompt, in the sampler copy's precision
(``--dtype``):

- ``reserved``: minirl's decode path (``minirl.rollout.kv_cache``: a cache with the completion's room reserved,
  attention over the filled part only), eager;
- ``static``: ``transformers``' ``StaticCache`` sized for the prompt and ``--max_new_tokens`` (attention over all of
  it, masked), eager: what compiling needs, since a compiled graph wants fixed shapes;
- ``compiled``: the same ``StaticCache`` step through ``torch.compile(model.forward)``; the first call's compile time
  is reported apart.

The first step's logits of each mode are compared with ``reserved``'s (``*_max_logit_diff``): the modes compute the
same thing. Each step appends one position to the cache; times are medians of ``--steps`` (20) steps after ``--warmup`` ones.

    python benchmarks/compile.py --out docs/results/benchmarks/cpu_compile.json
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from benchmarks.common import (  # noqa: E402
    BenchArgs,
    build_model,
    check_device,
    finish,
    gsm8k_prompts,
    parse_options,
    say,
)
from benchmarks.decode import median_ms  # noqa: E402

MODES = ("reserved", "static", "compiled")


def reserved_step(model, ids, batch: int, room: int):
    """A decode step of minirl's path: ``reserve``d cache, eager (returns the step function)."""
    import torch

    from minirl.prefill import CACHE, with_cache
    from minirl.rollout.kv_cache import reserve

    with torch.no_grad():
        cache = reserve(getattr(model(input_ids=ids, use_cache=True, logits_to_keep=1), CACHE), room)
    cache.batch_repeat_interleave(batch)
    token = torch.full((batch, 1), 100)  # [batch, 1]

    @torch.no_grad()
    def step():
        return model(input_ids=token, **with_cache(cache), use_cache=True).logits[:, -1].float()  # [batch, V]

    return step


def static_step(model, ids, batch: int, room: int, forward=None):
    """A decode step over a ``StaticCache`` of ``prompt + room`` positions, through ``forward`` (eager by default)."""
    import torch
    from transformers import StaticCache

    from minirl.prefill import with_cache

    prompt = ids.shape[1]
    cache = StaticCache(config=model.config, max_cache_len=prompt + room)
    with torch.no_grad():
        model(input_ids=ids.repeat(batch, 1), **with_cache(cache), use_cache=True,
              cache_position=torch.arange(prompt), logits_to_keep=1)  # fmt: skip
    token = torch.full((batch, 1), 100)  # [batch, 1]
    position = [prompt]
    forward = forward or model.forward

    @torch.no_grad()
    def step():
        if position[0] >= prompt + room:
            raise RuntimeError(
                f"the static cache holds {room} new positions; lower --steps or raise --max_new_tokens"
            )
        where = torch.tensor([position[0]])
        logits = forward(input_ids=token, **with_cache(cache), use_cache=True, cache_position=where).logits
        position[0] += 1
        return logits[:, -1].float()  # [batch, V]

    return step


def measure(args) -> dict:
    """Median decode-step time of each mode (and the compile time), and each mode against ``reserved``."""
    import torch

    model, tok = build_model(args)
    model = model.to(getattr(torch, args.dtype)).eval().requires_grad_(False)
    ids = tok(gsm8k_prompts(tok, 1, args.seed), return_tensors="pt", add_special_tokens=False)[
        "input_ids"
    ]  # [1, P]
    batch, room = args.generations, args.max_new_tokens
    out: dict = {"dtype": args.dtype, "batch": batch, "prompt_tokens": int(ids.shape[1]), "cache_room": room}
    first = {}
    for mode in args.modes:
        if mode == "reserved":
            step = reserved_step(model, ids, batch, room)
        elif mode == "static":
            step = static_step(model, ids, batch, room)
        else:
            step = static_step(model, ids, batch, room, torch.compile(model.forward, dynamic=False))
        started = time.perf_counter()
        first[mode] = step()  # [batch, V] the first decode step's logits (compiles the compiled mode)
        if mode == "compiled":
            out["compile_seconds"] = time.perf_counter() - started
            say(f"compile: {out['compile_seconds']:.1f} s")
        out[f"{mode}_step_ms"] = median_ms(step, "cpu", args.steps, args.warmup)
        say(f"{mode}: {out[f'{mode}_step_ms']:.1f} ms per decode step")
    if "reserved" in args.modes:  # the same work: the first step's logits agree, and the time ratio
        for mode in args.modes:
            out[f"{mode}_max_logit_diff"] = float((first[mode] - first["reserved"]).abs().max())
            out[f"{mode}_vs_reserved"] = out["reserved_step_ms"] / out[f"{mode}_step_ms"]  # > 1: faster
    return {"summary": out}


@dataclass
class CompileArgs(BenchArgs):
    """Would torch.compile of the decode step pay? One decode step of the bf16 sampler copy, three ways."""

    steps: int = 20
    """Timed decode steps per mode, after ``warmup`` untimed ones."""
    modes: list[Literal["reserved", "static", "compiled"]] = field(default_factory=lambda: list(MODES))
    """The modes to measure, a YAML list, e.g. ``[reserved, static]``."""
    dtype: Literal["bfloat16", "float32"] = "bfloat16"
    """The sampler copy's precision."""


def main(argv: list[str] | None = None) -> dict:
    """Run the measurements and return (and with ``--out`` write) the result."""
    args = parse_options(CompileArgs, argv)
    check_device(args)
    if args.device != "cpu":
        raise SystemExit("benchmarks/compile.py measures the CPU decode step; run it with --device cpu")
    if args.warmup + args.steps + 1 > args.max_new_tokens:
        raise SystemExit(
            f"--warmup {args.warmup} + --steps {args.steps} decode steps need --max_new_tokens of at least "
            f"{args.warmup + args.steps + 1} (the cache's room)"
        )
    started = time.perf_counter()
    return finish({"benchmark": "compile", **measure(args)}, args, started)


if __name__ == "__main__":
    main()
