"""minirl's rollout engines against HF ``model.generate`` on the same prompts, alternately: tokens/s and ratios.

``--prompts`` distinct GSM8K train prompts (rendered as minirl renders them) x ``--generations`` x
``--max_new_tokens``; the default 1 x 8 x 128 is issue #19's target work ("rollout tokens/s >= 3x HF generate at
8 x 128"). The engines (``--engines``, ``minirl.rollout.engines``): ``exact`` is minirl's decode loop over the model,
``bf16`` the same loop over a bf16 copy of it, ``auto`` whichever of the two this device gets by default. Every side
samples with temperature 1, top-p 1, no top-k, no stop strings, under the same precision (fp32 on the CPU, bf16
autocast on CUDA), and the sides take turns: ``--warmup`` untimed rounds, then ``--steps`` timed ones.

Equal lengths: by default EOS is not a stop token on either side (``benchmarks.common.without_eos``), so every row
decodes exactly ``--max_new_tokens`` tokens and both sides do the same number of decode steps at the same batch width.
With ``--stop_at_eos`` rows end at EOS at different places on the two sides (different random streams; minirl also
drops finished rows from the batch): lengths are then recorded and the rates are per generated token.

    python benchmarks/rollout.py --warmup 1 --steps 2 --out docs/results/benchmarks/cpu_rollout.json
    python benchmarks/rollout.py --engines '[exact]' --stop_at_eos true
    python benchmarks/rollout.py --device cuda --arch qwen2.5-0.5b
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
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
from minirl.config_checks import at_least  # noqa: E402

HF = "hf_generate"


def eos_ids(model, tok) -> set[int]:
    """The token ids that end a row: the generation config's EOS ids and the tokenizer's (none once removed)."""
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    return {i for i in {*ids, tok.eos_token_id} if i is not None}


def hf_run(model, tok, prompts: list[str], args):
    """HF ``model.generate`` on each prompt repeated G times (left-padded), as a callable returning the tokens it
    generated (up to and including the first EOS of each row)."""
    rows = [p for p in prompts for _ in range(args.generations)]
    enc = tok(rows, return_tensors="pt", padding=True, add_special_tokens=False).to(args.device)
    stop = eos_ids(model, tok)
    width = enc["input_ids"].shape[1]

    def run() -> int:
        out = model.generate(
            **enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=args.max_new_tokens
        )
        comp = out[:, width:].tolist()  # [N, <= max_new_tokens]
        return sum(next((j + 1 for j, t in enumerate(row) if t in stop), len(row)) for row in comp)

    return run, width


def measure(args) -> dict:
    """The engines and HF ``generate`` in turn on the same prompts; tokens/s per side and ratios to HF."""
    import torch

    model, tok, engines = rollout_setup(args)
    prompts = gsm8k_prompts(tok, args.prompts, args.seed)
    runs = {}
    for name, engine in engines.items():
        gen = torch.Generator(device=args.device).manual_seed(args.seed)
        runs[f"minirl_{name}"] = engine_run(engine, tok, prompts, args, gen)
    runs[HF], prompt_width = hf_run(model, tok, prompts, args)
    rows = alternate_runs(runs, args.warmup, args.steps, args.device)
    summary = {k: rate_summary(v) for k, v in rows.items()}
    hf = summary[HF]["tokens_per_s"]
    return {
        "prompt_tokens": prompt_width,
        "fixed_length": not args.stop_at_eos,
        "engines": {f"minirl_{name}": e.name for name, e in engines.items()},  # what auto resolved to
        "per_run": rows,
        "summary": summary,
        "ratios_over_hf_tokens_per_s": {k: s["tokens_per_s"] / hf for k, s in summary.items() if k != HF},
    }


@dataclass
class RolloutArgs(RolloutOptions, BenchArgs):
    """minirl's rollout engines against Hugging Face ``generate`` on the same prompts (tokens per second)."""

    prompts: int = 1
    """Distinct prompts, G completions each."""

    def __post_init__(self):
        super().__post_init__()
        at_least("", self, prompts=1)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark and return (and with ``--out`` write) the result."""
    args = parse_options(RolloutArgs, argv)
    check_device(args)
    started = time.perf_counter()
    result = measure(args)
    for k, s in result["summary"].items():
        print(f"{k:16s} {s['seconds']:8.2f} s  {s['tokens']:7.0f} tokens  {s['tokens_per_s']:8.1f} tokens/s")
    work = f"{args.prompts} x {args.generations} x {args.max_new_tokens}"
    for k, v in result["ratios_over_hf_tokens_per_s"].items():
        print(f"ratio {k} / HF generate tokens/s at {work}: {v:.2f}")
    return finish({"benchmark": "rollout", **result}, args, started)


if __name__ == "__main__":
    main()
