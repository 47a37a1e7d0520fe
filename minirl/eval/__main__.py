"""``python -m minirl.eval``: evaluate a model (alias, Hub id, checkpoint or run directory, LoRA adapter) on a task.

Examples::

    python -m minirl.eval --model smollm2-135m --task gsm8k --n 500
    python -m minirl.eval --model smollm2-135m --task arithmetic --n all --k 8 --temperature 1.0
    python -m minirl.eval --model runs/r1_zero_smollm2_cpu --task arithmetic --n 200 --k 8 --temperature 0.7
    python -m minirl.eval --model runs/r1_zero_smollm2_cpu --n 300 --no_reasoning true   # the reasoning ablation

Writes ``summary.json`` and ``problems.jsonl`` into ``--out`` (default ``<run dir>/eval`` or ``eval/<task>``).

The options are the fields of :class:`EvalArgs`, parsed as the recipes' configs are (``minirl.config_parse``,
jsonargparse): a value is YAML (``--task_args '{max_digits: 2}'``, ``--one_shot false``), ``--config FILE.yaml`` reads
some or all of them from a file, ``--help`` lists them with their docstrings, and a mistake ends with a one-line
``error: ...`` and exit code 2 (:func:`minirl.cli.run_main`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from minirl.cli import run_main
from minirl.config import EvalConfig
from minirl.config_checks import ConfigError, _check
from minirl.config_parse import parse_fields
from minirl.eval.runner import evaluate_examples
from minirl.models import load_model_and_tokenizer
from minirl.tasks import PromptStyle, get_task, task_names


def load_for_eval(model: str, adapter: str | None = None, device: str = "auto"):
    """Load a model for evaluation. ``model`` may be a run directory (its ``model/`` is used, with the run's prompt
    settings), and ``adapter`` a LoRA adapter directory applied on top. Returns ``(model, tokenizer, run_config)``."""
    run_cfg = None
    path = Path(model)
    if path.is_dir() and (path / "config.yaml").exists() and (path / "model").is_dir():
        run_cfg = yaml.safe_load((path / "config.yaml").read_text())
        path = path / "model"
        model = str(path)
    if path.is_dir() and (path / "adapter_config.json").exists() and adapter is None:
        adapter = str(path)
        model = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
    lm, tok = load_model_and_tokenizer(model, device=device)
    if adapter:
        from peft import PeftModel

        lm = PeftModel.from_pretrained(lm, adapter).eval()
    return lm, tok, run_cfg


@dataclass
class EvalArgs:
    """Evaluate a model (alias, Hub id, checkpoint or run directory, LoRA adapter) on a task; writes summary.json
    and problems.jsonl into ``out``."""

    model: str = "smollm2-135m"
    """Embedded alias, Hub id, checkpoint directory, or run directory (its ``model/``, with the run's task and prompt
    settings)."""
    adapter: str | None = None
    """LoRA adapter directory applied on top of ``model``."""
    task: str | None = None
    """``arithmetic``, ``countdown`` or ``gsm8k`` (None = the run's ``data.task``, else ``arithmetic``)."""
    task_args: dict | None = None
    """Task settings, e.g. ``{max_digits: 2}`` (None = the run's ``data.task_args`` for the run's task, else none)."""
    split: str = "test"
    """The task's split to evaluate on."""
    n: int | Literal["all"] = 100
    """Problems evaluated, or ``all`` for the whole split."""
    k: int = 1
    """Samples per problem besides the greedy answer, for pass@k and maj@k (1 = greedy only)."""
    temperature: float = 0.7
    """Sampling temperature of those samples."""
    max_new_tokens: int | None = None
    """Completion length cap (None = the run's ``rollout.max_new_tokens``, else 256)."""
    batch_size: int = EvalConfig().batch_size
    """Sequences decoded together (each row holds its KV cache: lower it when memory is short)."""
    seed: int = 0
    """Seed of the problems' order and the samples."""
    device: str = "auto"
    """``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda``, ``cuda:1``, ``mps``."""
    one_shot: bool | None = None
    """Put one worked example in the prompt (None = the run's ``data.one_shot``, else true)."""
    prefill_think: bool | None = None
    """End the prompt with ``<think>`` (None = the run's ``data.prefill_think``, else true)."""
    no_reasoning: bool = False
    """The reasoning ablation: force ``</think><answer>`` right after the prompt, so that the model answers at once
    (written to ``out/no_reasoning`` when ``out`` is not given)."""
    language: str | None = None
    """Prompt language and target language of the reasoning (None = the run's ``data.language``, else ``en``)."""
    out: str | None = None
    """Where summary.json and problems.jsonl go (None = ``<run dir>/eval`` for a run directory, else
    ``eval/<task>``)."""

    def __post_init__(self):
        _check(self.n == "all" or self.n >= 1, f"n must be a positive integer or 'all', got {self.n!r}")
        _check(
            self.task is None or self.task in task_names(),
            f"task must be one of {task_names()}, got {self.task!r}",
        )
        _check(self.k >= 1, f"k must be >= 1, got {self.k}")
        _check(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        _check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _check(
            self.max_new_tokens is None or self.max_new_tokens >= 1,
            f"max_new_tokens must be >= 1 or null, got {self.max_new_tokens}",
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m minirl.eval [--config FILE.yaml] [--field VALUE ...]``: returns 0; a mistake in the arguments or the
    task ends with ``error: <message>`` and exit code 2 (:func:`minirl.cli.run_main`)."""
    run_main(evaluate, sys.argv[1:] if argv is None else argv)
    return 0


def evaluate(argv: list[str]) -> None:
    """Parse ``argv`` into :class:`EvalArgs` (jsonargparse, as the recipes' configs), evaluate, and save."""
    args = parse_fields(EvalArgs, argv)
    lm, tok, run_cfg = load_for_eval(args.model, args.adapter, args.device)
    data_cfg = (run_cfg or {}).get("data", {})
    task_name = args.task or data_cfg.get("task", "arithmetic")
    task_args = (
        args.task_args
        if args.task_args is not None
        else (data_cfg.get("task_args", {}) if task_name == data_cfg.get("task") else {})
    )
    try:
        task = get_task(task_name, **(task_args or {}))
        examples = task.examples(args.split, n=None if args.n == "all" else args.n, seed=args.seed)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    style = PromptStyle(
        template=data_cfg.get("template", "r1_zero"),
        chat=data_cfg.get("chat"),
        system_prompt=data_cfg.get("system_prompt"),
        one_shot=_either(args.one_shot, data_cfg.get("one_shot", True)),
        prefill_think=_either(args.prefill_think, data_cfg.get("prefill_think", True)),
        language=args.language or data_cfg.get("language", "en"),
        worked_examples=data_cfg.get("worked_examples"),
    )
    max_new = args.max_new_tokens or (run_cfg or {}).get("rollout", {}).get("max_new_tokens") or 256
    result = evaluate_examples(
        lm,
        tok,
        task,
        examples,
        style,
        k=args.k,
        temperature=args.temperature,
        max_new_tokens=max_new,
        batch_size=args.batch_size,
        language=style.language,
        seed=args.seed,
        reasoning=not args.no_reasoning,
    )
    out = Path(args.out) if args.out else (Path(args.model) / "eval" if run_cfg else Path("eval") / task_name)
    if args.no_reasoning and not args.out:
        out = out / "no_reasoning"
    result.save(out)
    print(f"{task_name}/{args.split}, {len(examples)} problems: {result.summary_line()}")
    for name, est in result.metrics.items():
        print(f"  {name:26s} {est}")
    print(f"wrote {out}/summary.json and problems.jsonl")


def _either(given: bool | None, run_setting: bool) -> bool:
    """A flag given on the command line, else the run's setting."""
    return run_setting if given is None else given


if __name__ == "__main__":
    raise SystemExit(main())
