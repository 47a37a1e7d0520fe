"""The stages of DeepSeek-R1's pipeline (R1 paper, sec. 2.3) strung together: one function per step of the recipe.

==========================  ==============================  ====================================================
stage                       function                        module, and what it passes on
==========================  ==============================  ====================================================
1. cold-start data          :func:`cold_start_data`         :mod:`minirl.r1.s1_pool`: a pool of :class:`Trace`
2. curation                 (inside ``cold_start_data``)    :mod:`minirl.r1.s2_curate` -> :class:`ColdStartData`
3. cold-start SFT           :func:`cold_start_sft`          :mod:`minirl.r1.s3_sft` -> the SFT model's directory
4. RL (GRPO)                :func:`~.s4_grpo.run_grpo`      :mod:`minirl.r1.s4_grpo` -> the trained policy
5. rejection sampling       :func:`rejection_round`         :mod:`minirl.r1.s5_rejection`, curation, SFT ->
                                                            :class:`RejectionResult`
==========================  ==============================  ====================================================

Stage 1 is synthetic (:mod:`minirl.r1.s1_pool`), curated with :mod:`minirl.r1.s2_curate` (sec. 2.3.1: R1 "filters
out responses that are not reader-friendly") or left raw for the comparison; stage 4 is reasoning-oriented RL, where
R1 adds the language-consistency reward (sec. 2.3.2), and lives in :mod:`minirl.r1.s4_grpo` (it needs no config
section of its own); stage 5 samples from the RL model, keeps correct, well-formed, single-language traces and
fine-tunes on them (sec. 2.3.3). R1 then runs a second RL stage for all scenarios (sec. 2.3.4); we stop after the SFT.

Departure: R1's cold start is "thousands" of long traces and its rejection round ~600k; at our scale the
numbers are hundreds, and every stage uses the same task, prompt template and target language.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from minirl.config import TrainConfig
from minirl.models import load_model_and_tokenizer
from minirl.r1.config import ColdStartConfig, RejectionConfig
from minirl.r1.records import SFTRecord, to_sft_records
from minirl.r1.s1_pool import make_pool
from minirl.r1.s2_curate import CurationReport, curate, default_filters
from minirl.r1.s3_sft import run_sft
from minirl.r1.s5_rejection import Policy, Sampling, rejection_keep
from minirl.tasks import PromptStyle, Task, get_task


@dataclass
class ColdStartData:
    """What stages 1-2 hand to the cold-start SFT: its records and how they were made."""

    records: list[SFTRecord]
    """The SFT records (exact RL prompt, completion + EOS), one per kept trace."""
    pool_kinds: dict[str, int]
    """How many traces of each kind the synthetic pool had."""
    curated: bool
    """Whether the pool went through curation (R1) or stayed raw (an unfiltered crawl)."""
    curation: CurationReport | None = None
    """What each curation filter kept and dropped (``None`` for a raw pool)."""

    def info(self) -> dict[str, Any]:
        """The JSON summary saved in ``cold_start.json``: pool size and kinds, the curation report, record count."""
        out: dict[str, Any] = {
            "pool_size": sum(self.pool_kinds.values()),
            "pool_kinds": self.pool_kinds,
            "curated": self.curated,
        }
        if self.curation is not None:
            out["curation"] = self.curation.to_dict()
        out["num_records"] = len(self.records)
        return out


def cold_start_data(
    cfg: ColdStartConfig,
    task: Task,
    tokenizer: Any,
    style: PromptStyle,
    *,
    curated: bool,
    language: str = "en",
) -> ColdStartData:
    """Stages 1-2: the synthetic pool of ``cfg``, curated (R1) or raw, as SFT records for ``task``'s RL prompt."""
    examples = task.examples("train", n=cfg.num_examples, seed=cfg.seed)
    pool = make_pool(task, examples, cfg.pool(), seed=cfg.seed)
    kinds: dict[str, int] = {}
    for record in pool:
        kinds[record["kind"]] = kinds.get(record["kind"], 0) + 1
    report = None
    if curated:
        pool, report = curate(
            pool, default_filters(language=language, language_threshold=cfg.language_threshold)
        )
        if not pool:
            raise ValueError(
                "cold start: curation kept no trace of the pool; lower the defect shares in `cold_start` or "
                f"cold_start.language_threshold (now {cfg.language_threshold}). Report: {report.to_dict()}"
            )
    return ColdStartData(to_sft_records(pool, tokenizer, style, task), kinds, curated, report)


def cold_start_sft(
    cfg: ColdStartConfig, train_cfg: TrainConfig, out_dir: str | Path, *, curated: bool, device: str = "auto"
) -> Path:
    """Stage 3: fine-tune ``train_cfg.model.name`` on :func:`cold_start_data` and save it to ``out_dir``; returns it.

    The SFT prompts are the exact RL prompts of ``train_cfg.data``. The curated and raw pools get the same
    number of optimizer steps (``ceil(num_examples * epochs / batch_size)``), so only the data differs. A
    finished SFT in ``out_dir`` with the same settings is reused (``cold_start.json`` records them), which lets
    arms that share a cold start, and a re-run after an interruption, skip it.
    """
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
    data = cold_start_data(cfg, task, tokenizer, style, curated=curated, language=train_cfg.data.language)
    steps = math.ceil(cfg.num_examples * cfg.epochs / cfg.batch_size)
    label = "curated" if curated else "raw"
    print(f"[minirl] cold start ({label}): {len(data.records)} traces, {steps} SFT steps -> {out}")
    metrics = run_sft(
        model,
        tokenizer,
        data.records,
        out,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        max_length=cfg.max_length,
        max_steps=steps,
        lora=cfg.lora,
        seed=cfg.seed,
    )
    marker.write_text(json.dumps({"settings": settings, "data": data.info(), "sft": metrics}, indent=2))
    return out


@dataclass
class RejectionResult:
    """What stage 5 did: how many completions it sampled, what curation kept, and the SFT round on them."""

    sampled: int
    """Completions sampled (problems x samples per problem)."""
    curation: CurationReport
    """What each filter kept and dropped."""
    kept: int
    """Traces kept after curation and the cap per problem (the SFT records)."""
    sft: dict[str, Any] | None
    """:func:`minirl.r1.s3_sft.run_sft`'s metrics, ``None`` when nothing was kept (and nothing trained)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON saved as ``rejection.json``."""
        return {
            "sampled": self.sampled,
            "curation": self.curation.to_dict(),
            "kept": self.kept,
            "sft": self.sft,
        }


def rejection_round(
    cfg: RejectionConfig,
    out_dir: str | Path,
    policy: Policy,
    *,
    max_new_tokens: int,
    language: str = "en",
    seed: int = 0,
) -> RejectionResult:
    """Stage 5 on a trained policy: sample, keep correct single-language traces, SFT on them, save.

    Writes ``out_dir/rejection.json`` (:meth:`RejectionResult.to_dict`) and, when a trace survives, the fine-tuned
    model; when none does, nothing is trained. A LoRA policy is merged into its base model first (in place: the
    policy is not trained further after this last stage), so the saved model is a whole one.

    Args:
        cfg: the ``rejection`` section (problems, samples per problem, temperature, cap per problem, SFT settings).
        out_dir: where ``rejection.json`` and the fine-tuned model go.
        policy: the RL policy (without accelerate's wrapper, ``GRPOTrainer.unwrapped``) and the RL run's
            tokenizer, task and prompt template (:class:`~minirl.r1.s5_rejection.Policy`).
        max_new_tokens: the completion cap of the samples (the RL run's ``rollout.max_new_tokens``); with ``cfg``'s
            samples per problem and temperature and ``seed`` it makes the :class:`~minirl.r1.s5_rejection.Sampling`.
        language: the target language of the language-consistency filter.
        seed: the run's seed (the problems are drawn with ``seed + 1``, other ones than RL's first).
    """
    sampling = Sampling(
        k=cfg.samples_per_prompt, max_new_tokens=max_new_tokens, temperature=cfg.temperature, seed=seed
    )
    task = get_task(policy.task) if isinstance(policy.task, str) else policy.task
    examples = task.examples("train", n=cfg.num_prompts, seed=seed + 1)  # other problems than RL's first ones
    kept, report = rejection_keep(
        policy,
        examples,
        sampling,
        filters=default_filters(language=language),
        max_per_problem=cfg.max_per_problem,
    )
    out = Path(out_dir)
    sft = None
    if kept:
        model, tokenizer = policy.model, policy.tokenizer
        records = to_sft_records(kept, tokenizer, policy.style, task)
        if hasattr(
            model, "merge_and_unload"
        ):  # RL trained a LoRA adapter: fine-tune (and save) the whole model
            model = model.merge_and_unload().requires_grad_(True)  # peft had frozen the base weights
        sft = run_sft(model, tokenizer, records, out, epochs=cfg.epochs, lr=cfg.lr, seed=seed)
    else:
        print("[minirl] rejection sampling kept no trace: nothing to fine-tune on (see the curation report)")
    result = RejectionResult(report.total, report, len(kept), sft)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rejection.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result
