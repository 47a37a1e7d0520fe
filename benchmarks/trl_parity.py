"""Curve parity with TRL: the single-digit reference run (r1_zero_reference_1digit.yaml) by minirl and by TRL's
GRPOTrainer.

Work (identical for both): the embedded SmolLM2-135M-Instruct, single-digit addition, the R1 template with a one-shot
example as system prompt and ``<think>`` prefilled, rewards tag_count (0.5) + format (1) + accuracy (1), 1 prompt x 8
samples, 64 new tokens, lr 3e-5, beta 0, loss ``dapo``, fp32 on CPU, 40 steps; no stop string (TRL stops at EOS only,
so minirl does too here). The temperature (default 1) and LoRA are set for both; ``--minirl_args`` adds minirl-only
overrides (e.g. DAPO dynamic sampling, which TRL lacks).

    python benchmarks/trl_parity.py --temperature 0.5 --lora true --out docs/results/trl_parity/t05_lora
    python benchmarks/trl_parity.py --which minirl --steps 10
    python benchmarks/trl_parity.py --table 'docs/results/trl_parity/sweep/*'   # plateau table of finished runs

Writes ``<out>/{minirl,trl}/metrics.jsonl`` with the same metric names, overlaid curves in ``<out>/plots`` and
``<out>/summary.json`` with the means over steps 1-5 and 21-40 (docs/trl_parity.md; the first command's wall time
and memory: its section The plateau, reached).
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from minirl.cli import run_main
from minirl.config_checks import _check, above, at_least
from minirl.config_parse import parse_fields
from minirl.files import read_metrics

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REWARDS = {"tag_count": 0.5, "format": 1.0, "accuracy": 1.0}


def minirl_config(
    out: Path, steps: int, seed: int, temperature: float = 1.0, lora: bool = False, extra: list[str] = ()
):
    """minirl's config for the reference work; ``extra`` are more ``--section.field value`` overrides (minirl only)."""
    from minirl.config_parse import parse_args

    return parse_args(
        [
            "--config",
            str(
                Path(__file__).resolve().parents[1] / "recipes" / "configs" / "r1_zero_reference_1digit.yaml"
            ),
            "--run.output_dir",
            str(out),
            "--run.max_steps",
            str(steps),
            "--run.seed",
            str(seed),
            "--eval.at_start",
            "false",
            "--eval.at_end",
            "false",
            "--checkpoint.save_model",
            "false",
            "--run.preflight",
            "false",
            "--rollout.stop_at_answer",
            "false",
            "--grpo.rewards",
            json.dumps(REWARDS),
            "--grpo.loss_type",
            "dapo",
            "--grpo.beta",
            "0",
            "--optim.lr",
            "3e-5",
            "--rollout.num_generations",
            "8",
            "--rollout.prompts_per_step",
            "1",
            "--rollout.max_new_tokens",
            "64",
            "--data.task",
            "arithmetic",
            "--rollout.temperature",
            str(temperature),
            "--model.lora",
            str(lora).lower(),
            *extra,
        ]
    )


def run_minirl(
    out: Path, steps: int, seed: int, temperature: float = 1.0, lora: bool = False, extra: list[str] = ()
) -> None:
    from minirl.trainer import GRPOTrainer

    trainer = GRPOTrainer(minirl_config(out, steps, seed, temperature, lora, extra))
    trainer.train()


def run_trl(out: Path, steps: int, seed: int, temperature: float = 1.0, lora: bool = False) -> None:
    """TRL's GRPOTrainer on the same prompts (rendered by minirl, passed as plain text so the prefill survives)."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    import rewards
    from minirl.models import load_model_and_tokenizer, lora_config
    from minirl.tasks import PromptStyle, build_prompt, get_task

    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    model, tok = load_model_and_tokenizer("smollm2-135m", device="cpu")
    task = get_task("arithmetic", num_terms=2, max_digits=1)
    examples = task.examples("train", n=steps * 4, seed=seed)
    style = PromptStyle()
    data = Dataset.from_list(
        [{"prompt": build_prompt(ex, tok, style, task=task), **ex.reward_kwargs()} for ex in examples]
    )

    funcs = [rewards.get(name) for name in REWARDS]
    for name, fn in zip(REWARDS, funcs):
        if not hasattr(fn, "__name__"):
            fn.__name__ = name
    metrics_path = out / "metrics.jsonl"
    metrics_path.unlink(missing_ok=True)

    class Log(TrainerCallback):
        def __init__(self):
            self.t = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kw):
            if not logs or "loss" not in logs and "reward" not in logs:
                return
            now = time.perf_counter()
            row = {"type": "train", "step": state.global_step, "step_time": now - self.t}
            self.t = now
            for key, value in logs.items():
                if not isinstance(value, (int, float)):
                    continue
                for name, fn in zip(REWARDS, funcs):
                    if key == f"rewards/{fn.__name__}/mean":
                        row[f"rewards/{name}/mean"] = value
                        if name == "accuracy":
                            row["accuracy"] = value
                        if name == "format":
                            row["format_rate"] = value
                if key in ("reward", "kl", "entropy", "grad_norm", "learning_rate"):
                    row["lr" if key == "learning_rate" else key] = value
                if key == "completions/mean_length":
                    row["completion_length/mean"] = value
            with open(metrics_path, "a") as f:
                f.write(json.dumps(row) + "\n")

    cfg = GRPOConfig(
        output_dir=str(out / "trl_out"),
        per_device_train_batch_size=8,
        num_generations=8,
        max_completion_length=64,
        learning_rate=3e-5,
        beta=0.0,
        loss_type="dapo",
        temperature=temperature,
        bf16=False,
        use_cpu=True,
        logging_steps=1,
        max_steps=steps,
        report_to=[],
        save_strategy="no",
        seed=seed,
        reward_weights=list(REWARDS.values()),
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_grad_norm=1.0,
        adam_beta2=0.99,
        shuffle_dataset=True,
    )
    peft_config = None
    if lora:  # the adapter minirl's side trains (r 16, alpha 32, no dropout, every linear layer)
        peft_config = lora_config(minirl_config(out, steps, seed, temperature, lora=True).model)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=cfg,
        train_dataset=data,
        processing_class=tok,
        peft_config=peft_config,
    )
    trainer.add_callback(Log())
    trainer.train()


def plateau(metrics_path: Path) -> dict:
    """One run's means: format rate over steps 1-5 and 21-40, training accuracy over 1-5 and 21-40, step time."""
    rows = [r for r in read_metrics(metrics_path) if r.get("type", "train") == "train"]
    early = [r for r in rows if r["step"] <= 5]
    late = [r for r in rows if 21 <= r["step"] <= 40]

    def mean(key, rs):
        vals = [r[key] for r in rs if isinstance(r.get(key), (int, float))]
        return sum(vals) / len(vals) if vals else None

    return {
        "steps": len(rows),
        "format_rate_steps_1_5": mean("format_rate", early),
        "format_rate_steps_21_40": mean("format_rate", late),
        "accuracy_steps_1_5": mean("accuracy", early),
        "accuracy_steps_21_40": mean("accuracy", late),
        "mean_step_time_s": mean("step_time", rows[1:]),
    }


def summarize(out: Path) -> dict:
    """``plateau`` of the minirl and TRL runs under ``out``, also written to ``out/summary.json``."""
    summary = {
        name: plateau(out / name / "metrics.jsonl")
        for name in ("minirl", "trl")
        if (out / name / "metrics.jsonl").exists()
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def plateau_table(run_dirs: list[Path]) -> str:
    """A markdown table of ``plateau`` for run folders (each with a metrics.jsonl), e.g. the sweep in the docs."""
    lines = [
        "| run | steps | format 1-5 | format 21-40 | accuracy 1-5 | accuracy 21-40 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for d in run_dirs:
        p = plateau(Path(d) / "metrics.jsonl")
        keys = (
            "format_rate_steps_1_5",
            "format_rate_steps_21_40",
            "accuracy_steps_1_5",
            "accuracy_steps_21_40",
        )
        cells = [p[k] for k in keys]
        shown = " | ".join("-" if v is None else f"{v:.2f}" for v in cells)
        lines.append(f"| {Path(d).name} | {p['steps']} | {shown} |")
    return "\n".join(lines)


@dataclass
class ParityArgs:
    """Curve parity with TRL: the single-digit reference run by minirl and by TRL's GRPOTrainer."""

    out: str = "docs/results/trl_parity"
    """Where ``minirl/``, ``trl/``, ``plots/`` and ``summary.json`` go."""
    steps: int = 40
    """Training steps of each trainer."""
    seed: int = 42
    """Seed of both trainers."""
    temperature: float = 1.0
    """Sampling temperature of both trainers."""
    lora: bool = False
    """Train a LoRA adapter (r 16, alpha 32) in both trainers."""
    minirl_args: str = ""
    """More minirl overrides in one string, e.g. ``--minirl_args "--grpo.dynamic_sampling true"`` (minirl only: TRL
    has no such setting); checked before any model is loaded."""
    which: Literal["both", "minirl", "trl"] = "both"
    """Which trainers run."""
    table: str | None = None
    """Only print the plateau table of the finished runs whose directories match this glob pattern (quote it),
    e.g. ``'docs/results/trl_parity/sweep/*'``."""

    def __post_init__(self):
        at_least("", self, steps=1)
        above("", self, temperature=0)
        _check(
            self.table is None or bool(glob.glob(self.table)), f"table: no directory matches {self.table!r}"
        )


def main(argv: list[str] | None = None) -> None:
    """Parse the options (as ``python -m minirl.eval``: a mistake is one ``error:`` line, exit 2) and run."""
    run_main(parity, sys.argv[1:] if argv is None else argv)


def parity(argv: list[str]) -> None:
    """Run the trainers asked for, plot their curves and print the summary (or, with ``table``, only the table)."""
    args = parse_fields(ParityArgs, argv)
    if args.table:
        print(plateau_table([Path(d) for d in sorted(glob.glob(args.table))]))
        return
    out = Path(args.out)
    if args.which in ("both", "minirl"):
        extra = shlex.split(args.minirl_args)
        run_minirl(out / "minirl", args.steps, args.seed, args.temperature, args.lora, extra)
    if args.which in ("both", "trl"):
        run_trl(out / "trl", args.steps, args.seed, args.temperature, args.lora)
    from minirl.plot.curves import plot_runs

    dirs = [d for d in (out / "minirl", out / "trl") if (d / "metrics.jsonl").exists()]
    plot_runs(
        dirs,
        out / "plots",
        metrics=["format_rate", "accuracy", "reward", "completion_length/mean", "step_time"],
        smooth=0.0,
    )
    print(json.dumps(summarize(out), indent=2))


if __name__ == "__main__":
    main()
