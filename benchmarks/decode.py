"""What bounds a decode step: the memory copy bandwidth, the weights' size, one decode step at batch 1 / G / 2G, and
minirl's sampler against ``torch.multinomial``.

At batch 1 a decode step reads every weight once, so ``weight_MB / decode_step_ms_batch1`` against the copy
bandwidth says how close to the memory floor a step is; the wider batches show what arithmetic adds. The prompt is
one GSM8K train question rendered as minirl renders it; each timed decode step appends one position to its KV cache
(no padding, so no attention mask). Times are medians.

    python benchmarks/decode.py --out docs/results/benchmarks/cpu_decode.json
    python benchmarks/decode.py --device cuda --arch qwen2.5-0.5b
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from benchmarks.common import (  # noqa: E402
    BenchArgs,
    build_model,
    check_device,
    finish,
    gsm8k_prompts,
    parse_options,
    say,
    sync,
)


def median_ms(fn, device: str, reps: int = 8, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``reps`` calls after ``warmup`` untimed calls (ms)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return 1000 * sorted(times)[len(times) // 2]


def copy_gbps(device: str) -> float:
    """Memory bandwidth of a 256 MiB fp32 copy, bytes read plus bytes written (GB/s)."""
    import torch

    src = torch.ones(64 * 2**20, device=device)  # 256 MiB
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / median_ms(lambda: dst.copy_(src), device, 5) * 1e-6  # read + write


def decode_step_ms(model, enc, batch: int, dev: str) -> float:
    """Median time of one decode step at ``batch`` rows after the prompt ``enc`` (its cache repeated per row)."""
    import torch

    from minirl.prefill import CACHE, with_cache

    with torch.no_grad():
        cache = getattr(model(**enc, use_cache=True, logits_to_keep=1), CACHE)
        cache.batch_repeat_interleave(batch)
        ids = torch.full((batch, 1), 100, device=dev)  # [batch, 1]
        return median_ms(lambda: model(input_ids=ids, **with_cache(cache), use_cache=True), dev)


def measure(args) -> dict:
    """The floor of a decode step: bytes of weights read per step against the memory bandwidth, and batch scaling."""
    import torch

    from minirl.rollout.generate import sample_next_token

    dev = args.device
    out: dict = {"copy_GBps_read_plus_write": copy_gbps(dev)}
    model, tok = build_model(args)
    out["weight_MB"] = sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
    enc = tok(gsm8k_prompts(tok, 1, args.seed), return_tensors="pt", add_special_tokens=False).to(dev)
    out["prompt_tokens"] = int(enc["input_ids"].shape[1])
    for batch in (1, args.generations, 2 * args.generations):
        out[f"decode_step_ms_batch{batch}"] = decode_step_ms(model, enc, batch, dev)
    logits = torch.randn(args.generations, model.config.vocab_size, device=dev)  # [G, V]
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    out["sample_ms_minirl"] = median_ms(lambda: sample_next_token(logits, 1.0, 1.0, gen), dev, 20)
    out["sample_ms_multinomial"] = median_ms(
        lambda: torch.multinomial(torch.softmax(logits, -1), 1, generator=gen), dev, 20
    )
    out["weights_GBps_at_batch1"] = out["weight_MB"] / out["decode_step_ms_batch1"]  # MB/ms = GB/s
    for k, v in out.items():
        say(f"{k}: {v:.2f}")
    return {"summary": out}


@dataclass
class DecodeArgs(BenchArgs):
    """What bounds a decode step: memory bandwidth, weight size, decode steps at batch 1 / G / 2G, the sampler."""


def main(argv: list[str] | None = None) -> dict:
    """Run the measurements and return (and with ``--out`` write) the result."""
    args = parse_options(DecodeArgs, argv)
    check_device(args)
    started = time.perf_counter()
    return finish({"benchmark": "decode", **measure(args)}, args, started)


if __name__ == "__main__":
    main()
