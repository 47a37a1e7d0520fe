"""Why minirl has no int8 rollout engine: speed and distribution shift of an int8 sampler copy, measured.

A decode step on this CPU is bound by reading the fp32 weights (docs/benchmarks.md), so a sampler copy with 8-bit
weights would read a quarter of the bytes. Two int8 paths exist in PyTorch on x86:

- ``torch.ops.aten._weight_int8pack_mm``: weight-only int8, fp32 activations (what the rollout-engine issue asks
  for). Timed here on one decoder-sized matmul against fp32.
- FBGEMM's dynamically quantized linear (``torch.ops.quantized.linear_dynamic``): int8 weights (one scale per output
  row) *and* int8 activations quantized per call from their own range (7-bit on AVX2, ``reduce_range``).

For each variant of the model (every linear layer quantized, or every kind but one) this prints the decode step time
at batch ``--generations`` against fp32, and the KL divergence per token ``KL(q || p)`` of its next-token
distribution ``q`` from the fp32 model's ``p`` on a GSM8K prompt followed by the fp32 model's greedy completion
(teacher forced). A sampler with a large KL gives samples the loss must re-weight heavily (truncated importance
sampling), which is not what a faster sampler is for. The bf16 copy is measured alongside as the reference of a
small shift.

    python benchmarks/int8.py --out docs/results/benchmarks/cpu_int8.json
"""

from __future__ import annotations

import copy
import sys
import time
import warnings
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
)
from benchmarks.decode import decode_step_ms, median_ms  # noqa: E402

KINDS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")


def int8_linear(linear):
    """An FBGEMM dynamically quantized copy of ``linear`` (symmetric int8 weight rows; a module with forward)."""
    import torch

    w = linear.weight.detach().float()
    scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12).double()  # [N]
    with warnings.catch_warnings():  # quantized tensors are deprecated in recent PyTorch
        warnings.simplefilter("ignore")
        q = torch.quantize_per_channel(w, scale, torch.zeros(len(scale), dtype=torch.long), 0, torch.qint8)
    packed = torch.ops.quantized.linear_prepack(q, None)
    bias = linear.bias

    class Int8(torch.nn.Module):
        def forward(self, x):
            out = torch.ops.quantized.linear_dynamic(x.float().contiguous(), packed, True)  # [..., N]
            return out if bias is None else out + bias

    return Int8()


def quantized(model, kinds: tuple[str, ...]):
    """A copy of ``model`` whose linear layers named ``*.<kind>`` for ``kind`` in ``kinds`` are int8."""
    import torch

    out = copy.deepcopy(model)
    for name, module in list(out.named_modules()):
        if isinstance(module, torch.nn.Linear) and name.split(".")[-1] in kinds:
            out.set_submodule(name, int8_linear(module))
    return out


def kl_per_token(model, ref_logprobs, ids, start: int) -> tuple[float, float]:
    """Mean and max over completion positions of ``KL(model || reference)`` (nats per token)."""
    import torch

    with torch.no_grad():
        lq = torch.log_softmax(model(ids).logits[0, start:].float(), -1)  # [T, V]
    kl = (lq.exp() * (lq - ref_logprobs)).sum(-1)  # [T]
    return float(kl.mean()), float(kl.max())


def weight_only_matmul_us(dev: str) -> dict:
    """One decoder-sized product ([G, 576] x [576, 1536]) in fp32 against ``_weight_int8pack_mm`` (us, medians)."""
    import torch

    w = torch.randn(1536, 576)
    x = torch.randn(8, 576)
    scale = w.abs().amax(1) / 127
    wq = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    out = {"fp32_us": 1000 * median_ms(lambda: torch.nn.functional.linear(x, w), dev, 50)}
    out["weight_only_int8_us"] = 1000 * median_ms(
        lambda: torch.ops.aten._weight_int8pack_mm(x, wq, scale), dev, 50
    )
    return out


def measure(args) -> dict:
    """Decode-step time and KL against fp32 for each int8 variant and the bf16 copy."""
    import torch

    dev = args.device
    model, tok = build_model(args)
    prompt = gsm8k_prompts(tok, 1, args.seed)[0]
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False).to(dev)
    start = int(enc["input_ids"].shape[1]) - 1  # logits at start predict the first completion token
    with torch.no_grad():
        ids = model.generate(**enc, max_new_tokens=args.max_new_tokens, do_sample=False)  # [1, P + T]
        ref = torch.log_softmax(model(ids).logits[0, start:-1].float(), -1)  # [T, V]
    ids_in = ids[:, :-1]
    variants = {"int8 every linear": KINDS}
    variants.update(
        {f"int8 all but {k}": tuple(x for x in KINDS if x != k) for k in ("down_proj", "lm_head")}
    )
    variants.update({f"int8 {k} only": (k,) for k in ("down_proj", "gate_proj", "q_proj", "lm_head")})

    def measured(copy_of_model) -> dict:
        kl_mean, kl_max = kl_per_token(copy_of_model, ref, ids_in, start)
        ms = decode_step_ms(copy_of_model, enc, args.generations, dev)
        return {"decode_ms": ms, "kl_mean": kl_mean, "kl_max": kl_max}

    rows = {
        "fp32": {
            "decode_ms": decode_step_ms(model, enc, args.generations, dev),
            "kl_mean": 0.0,
            "kl_max": 0.0,
        }
    }
    rows["bf16 copy"] = measured(copy.deepcopy(model).to(torch.bfloat16))
    for name, kinds in variants.items():
        rows[name] = measured(quantized(model, kinds))
    for name, row in rows.items():
        row["speedup_vs_fp32"] = rows["fp32"]["decode_ms"] / row["decode_ms"]
        say(
            f"{name:24s} decode {row['decode_ms']:7.1f} ms  {row['speedup_vs_fp32']:.2f}x  "
            f"KL/token mean {row['kl_mean']:.4f}  max {row['kl_max']:.3f}"
        )
    mm = weight_only_matmul_us(dev)
    say(
        f"[8, 576] x [576, 1536]: fp32 {mm['fp32_us']:.0f} us, weight-only int8 {mm['weight_only_int8_us']:.0f} us"
    )
    return {
        "prompt_tokens": start + 1,
        "completion_tokens": int(ids.shape[1]) - start - 1,
        "rows": rows,
        "weight_only_matmul": mm,
    }


@dataclass
class Int8Args(BenchArgs):
    """Why minirl has no int8 rollout engine: speed and distribution shift of an int8 sampler copy, measured."""


def main(argv: list[str] | None = None) -> dict:
    """Run the measurements and return (and with ``--out`` write) the result."""
    args = parse_options(Int8Args, argv)
    check_device(args)
    if args.device != "cpu":
        raise SystemExit("benchmarks/int8.py measures the CPU's int8 kernels: run it with --device cpu")
    started = time.perf_counter()
    return finish({"benchmark": "int8", **measure(args)}, args, started)


if __name__ == "__main__":
    main()
