"""The stages of DeepSeek-R1's pipeline (R1 paper, sec. 2.3) as functions a recipe strings together.

1. :func:`cold_start_sft` — SFT on a small set of readable chain-of-thought traces (sec. 2.3.1). Ours are
   synthetic (:mod:`minirl.sft.colddata`), curated with :mod:`minirl.curation` or left raw for the comparison.
2. :func:`run_grpo` — reasoning-oriented RL with GRPO; R1 adds the language-consistency reward (sec. 2.3.2).
3. :func:`rejection_round` — sample from the RL model, keep correct, well-formed, single-language traces, SFT on
   them (sec. 2.3.3). R1 then runs a second RL stage for all scenarios (sec. 2.3.4); we stop after the SFT.

Departure: R1's cold start is "thousands" of long traces and its rejection round ~600k; at our scale the
numbers are hundreds, and every stage uses the same task, prompt template and target language.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from minirl.config import TrainConfig
from minirl.pipeline.config import ColdStartConfig, RejectionConfig
from minirl.tasks import PromptStyle, Task, get_task


def cold_start_records(
    cfg: ColdStartConfig,
    task: Task,
    tokenizer: Any,
    style: PromptStyle,
    *,
    curated: bool,
    language: str = "en",
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The cold-start SFT records: the synthetic pool of ``cfg``, curated (R1) or raw (an unfiltered crawl).

    Returns ``(records, info)``: ``{"prompt", "completion"}`` pairs and a dict with the pool's kind counts and,
    when curated, the curation report (kept and dropped per filter).
    """
    from minirl.curation import curate, default_filters
    from minirl.sft import make_pool, to_sft_records

    examples = task.examples("train", n=cfg.num_examples, seed=cfg.seed)
    pool = make_pool(task, examples, cfg.pool(), seed=cfg.seed)
    kinds: dict[str, int] = {}
    for record in pool:
        kinds[record["kind"]] = kinds.get(record["kind"], 0) + 1
    info: dict[str, Any] = {"pool_size": len(pool), "pool_kinds": kinds, "curated": curated}
    if curated:
        pool, report = curate(
            pool, default_filters(language=language, language_threshold=cfg.language_threshold)
        )
        info["curation"] = report.to_dict()
        if not pool:
            raise ValueError(
                "cold start: curation kept no trace of the pool; lower the defect shares in `cold_start` or "
                f"cold_start.language_threshold (now {cfg.language_threshold}). Report: {info['curation']}"
            )
    info["num_records"] = len(pool)
    return to_sft_records(pool, tokenizer, style, task), info


def cold_start_sft(
    cfg: ColdStartConfig, train_cfg: TrainConfig, out_dir: str | Path, *, curated: bool, device: str = "auto"
) -> Path:
    """Fine-tune ``train_cfg.model.name`` on the cold-start pool and save it to ``out_dir``; returns ``out_dir``.

    The SFT prompts are the exact RL prompts of ``train_cfg.data``. The curated and raw pools get the same
    number of optimizer steps (``ceil(num_examples * epochs / batch_size)``), so only the data differs. A
    finished SFT in ``out_dir`` with the same settings is reused (``cold_start.json`` records them), which lets
    arms that share a cold start, and a re-run after an interruption, skip it.
    """
    from minirl.models import load_model_and_tokenizer
    from minirl.sft import run_sft

    out = Path(out_dir)
    settings = {
        "cold_start": asdict(cfg),
        "curated": curated,
        "model": train_cfg.model.name,
        "data": asdict(train_cfg.data),
    }
    marker = out / "cold_start.json"
    done = marker.exists() and (out / "config.json").exists()
    if done and json.loads(marker.read_text()).get("settings") == json.loads(json.dumps(settings)):
        print(f"[minirl] cold start: reusing {out}")
        return out
    task = get_task(train_cfg.data.task, **train_cfg.data.task_args)
    model, tokenizer = load_model_and_tokenizer(
        train_cfg.model.name, device=device, dtype="fp32", trust_remote_code=train_cfg.model.trust_remote_code
    )
    style = PromptStyle.from_config(train_cfg.data)
    records, info = cold_start_records(
        cfg, task, tokenizer, style, curated=curated, language=train_cfg.data.language
    )
    steps = math.ceil(cfg.num_examples * cfg.epochs / cfg.batch_size)
    label = "curated" if curated else "raw"
    print(f"[minirl] cold start ({label}): {len(records)} traces, {steps} SFT steps -> {out}")
    metrics = run_sft(
        model,
        tokenizer,
        records,
        out,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        max_length=cfg.max_length,
        max_steps=steps,
        lora=cfg.lora,
        seed=cfg.seed,
    )
    marker.write_text(json.dumps({"settings": settings, "data": info, "sft": metrics}, indent=2))
    return out


def run_grpo(train_cfg: TrainConfig, *, evaluate: Any = None) -> tuple[Any, Any, Any]:
    """Run GRPO with ``train_cfg`` and write its report; ``evaluate(trainer)`` runs before and after training.

    Returns ``(trainer, before, after)`` where ``before``/``after`` are what ``evaluate`` returned (``None``
    without it).
    """
    from minirl.trainer import GRPOTrainer

    trainer = GRPOTrainer(train_cfg)
    before = evaluate(trainer) if evaluate else None
    trainer.train()
    after = evaluate(trainer) if evaluate else None
    trainer.write_report()
    return trainer, before, after


def rejection_round(
    cfg: RejectionConfig, trainer: Any, out_dir: str | Path, *, language: str = "en", seed: int = 0
) -> dict[str, Any]:
    """R1 stage 3 on a trained policy: sample, keep correct single-language traces, SFT on them, save.

    Returns the curation counts and the SFT metrics (also written to ``out_dir/rejection.json``). When no trace
    survives, nothing is trained and ``"sft"`` is ``None``.
    """
    from minirl.curation import default_filters
    from minirl.sft import rejection_keep, run_sft, to_sft_records

    model, tokenizer, task, style = trainer.unwrapped, trainer.tokenizer, trainer.task, trainer.style
    examples = task.examples("train", n=cfg.num_prompts, seed=seed + 1)  # other problems than RL's first ones
    kept, report = rejection_keep(
        model,
        tokenizer,
        task,
        examples,
        style,
        cfg.samples_per_prompt,
        max_new_tokens=trainer.cfg.rollout.max_new_tokens,
        temperature=cfg.temperature,
        seed=seed,
        filters=default_filters(language=language),
        max_per_problem=cfg.max_per_problem,
    )
    result: dict[str, Any] = {"sampled": report.total, "curation": report.to_dict(), "kept": len(kept)}
    out = Path(out_dir)
    if kept:
        records = to_sft_records(kept, tokenizer, style, task)
        result["sft"] = run_sft(model, tokenizer, records, out, epochs=cfg.epochs, lr=cfg.lr, seed=seed)
    else:
        result["sft"] = None
        print("[minirl] rejection sampling kept no trace: nothing to fine-tune on (see the curation report)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "rejection.json").write_text(json.dumps(result, indent=2))
    return result
