"""``python -m minirl.eval``: evaluate a model (alias, Hub id, checkpoint or run directory, LoRA adapter) on a task.

Examples::

    python -m minirl.eval --model smollm2-135m --task gsm8k --n 500
    python -m minirl.eval --model smollm2-135m --task arithmetic --n all --k 8 --temperature 1.0
    python -m minirl.eval --model runs/r1_zero_smollm2_cpu --task arithmetic --n 200 --k 8 --temperature 0.7
    python -m minirl.eval --model runs/r1_zero_smollm2_cpu --n 300 --no-reasoning   # the reasoning ablation

Writes ``summary.json`` and ``problems.jsonl`` into ``--out`` (default ``<run dir>/eval`` or ``eval/<task>``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from minirl.config import EvalConfig
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


def _count(text: str) -> int | None:
    """``--n``: a positive integer, or ``all`` for the task's whole split (``None``)."""
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}")
    return n


def _mapping(text: str) -> dict:
    """``--task-args``: a YAML mapping of task settings, e.g. ``'{max_digits: 2}'``."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise argparse.ArgumentTypeError(
            f"not valid YAML ({err}): write a mapping like '{{max_digits: 2}}'"
        ) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a YAML mapping like '{{max_digits: 2}}', got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m minirl.eval", description=__doc__.split("\n")[0])
    p.add_argument("--model", default="smollm2-135m", help="alias, Hub id, checkpoint dir or run dir")
    p.add_argument("--adapter", default=None, help="LoRA adapter directory to apply")
    p.add_argument(
        "--task", default=None, help=f"one of {task_names()} (default: the run's task, else arithmetic)"
    )
    p.add_argument(
        "--task-args",
        type=_mapping,
        default=None,
        help="YAML mapping of task settings, e.g. '{max_digits: 2}'",
    )
    p.add_argument("--split", default="test")
    p.add_argument(
        "--n",
        type=_count,
        default=100,
        help="number of problems, or 'all' (the whole split; GSM8K test: 1319)",
    )
    p.add_argument(
        "--k", type=int, default=1, help="samples per problem for pass@k / maj@k (1 = greedy only)"
    )
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument(
        "--batch-size",
        type=int,
        default=EvalConfig().batch_size,
        help="sequences decoded together (each row holds its KV cache: lower it when memory is short)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-one-shot", action="store_true", help="no worked example in the prompt")
    p.add_argument("--no-prefill", action="store_true", help="do not end the prompt with <think>")
    p.add_argument(
        "--no-reasoning",
        action="store_true",
        help="the reasoning ablation: force </think><answer> right after the prompt, so the model answers at once",
    )
    p.add_argument("--language", default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

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
        examples = task.examples(args.split, n=args.n, seed=args.seed)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    style = PromptStyle(
        template=data_cfg.get("template", "r1_zero"),
        chat=data_cfg.get("chat"),
        system_prompt=data_cfg.get("system_prompt"),
        one_shot=not args.no_one_shot and data_cfg.get("one_shot", True),
        prefill_think=not args.no_prefill and data_cfg.get("prefill_think", True),
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
