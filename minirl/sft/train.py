"""Cold-start SFT on TRL's ``SFTTrainer`` (DeepSeek-R1 stage 1) and rejection sampling for SFT data (stage 3).

Stage 1 fine-tunes the base model on a few thousand curated long-CoT examples before RL; stage 3 samples from the
RL checkpoint, keeps "only the correct responses" after filtering out "chain-of-thought with mixed languages, long
paragraphs, and code blocks", and fine-tunes again (R1, sec. 2.3.1 and 2.3.3). The loss is the usual next-token
negative log-likelihood on the completion tokens only:

    L(theta) = - sum_t log p_theta(o_t | q, o_<t) / |o|   over completion tokens o (prompt tokens masked),

with TRL's ``completion_only_loss=True``, averaged over the completion tokens of a batch.

Departure from a plain ``SFTTrainer`` call: records are tokenized here, exactly as the RL rollout tokenizes
(``minirl.rollout.generate``): the prompt alone without special tokens, then the completion tokens after it. TRL,
given ``prompt``/``completion`` strings, would tokenize ``prompt + completion`` jointly with the tokenizer's
default special tokens (a BOS for Llama-style tokenizers), which can differ from what RL conditions on. We hand
it ``input_ids`` and ``completion_mask`` instead; TRL then builds the labels, truncates and trains as usual.

``trl`` and ``datasets`` are imported inside :func:`run_sft` only, so the rest of minirl runs without them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from minirl.curation.filters import DEFAULT_FILTERS, CurationReport, FilterFn, curate
from minirl.sft.colddata import make_record, to_sft_records
from minirl.tasks import build_prompt


def _tokenize_records(
    records: Sequence[dict[str, str]], tokenizer: Any, max_length: int | None, what: str
) -> tuple[list[dict[str, list[int]]], int]:
    """``input_ids`` + ``completion_mask`` per record, and how many were cut at ``max_length``."""
    eos_id = tokenizer.eos_token_id
    rows, truncated = [], 0
    for i, rec in enumerate(records):
        prompt, completion = (
            (rec.get("prompt"), rec.get("completion")) if isinstance(rec, dict) else (None, None)
        )
        if not isinstance(prompt, str) or not isinstance(completion, str) or not completion:
            got = f"keys {sorted(rec)}" if isinstance(rec, dict) else type(rec).__name__
            raise ValueError(
                f"run_sft: {what} record #{i} needs string 'prompt' and non-empty 'completion' (got {got}); "
                "build them with minirl.sft.to_sft_records()."
            )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        if eos_id is not None and completion_ids[-1:] != [eos_id]:
            completion_ids.append(eos_id)  # the model must learn to stop
        if max_length is not None and len(prompt_ids) >= max_length:
            raise ValueError(
                f"run_sft: {what} record #{i}: the prompt alone has {len(prompt_ids)} tokens >= max_length="
                f"{max_length}, so no completion token would be trained; raise max_length."
            )
        if max_length is not None and len(prompt_ids) + len(completion_ids) > max_length:
            truncated += 1
        rows.append(
            {
                "input_ids": prompt_ids + completion_ids,
                "completion_mask": [0] * len(prompt_ids) + [1] * len(completion_ids),
            }
        )
    return rows, truncated


def run_sft(
    model: Any,
    tokenizer: Any,
    records: Sequence[dict[str, str]],
    output_dir: str | Path,
    *,
    epochs: float = 1.0,
    lr: float = 2e-5,
    batch_size: int = 8,
    grad_accum: int = 1,
    max_length: int | None = 1024,
    max_steps: int = -1,
    warmup_steps: float = 0,
    weight_decay: float = 0.0,
    lora: bool = False,
    lora_r: int = 16,
    lora_alpha: int | None = None,
    gradient_checkpointing: bool = False,
    eval_records: Sequence[dict[str, str]] | None = None,
    logging_steps: int = 1,
    seed: int = 0,
    save: bool = True,
) -> dict[str, Any]:
    """Fine-tune ``model`` on prompt-completion ``records`` with the loss on completion tokens only.

    The model is trained in place; with ``lora=True`` a LoRA adapter (peft, all linear layers) is trained and then
    merged into the weights, so either way ``model`` afterwards is a plain model ready for GRPO.

    Args:
        model: a causal LM (fp32 on CPU; on CUDA training uses bf16 mixed precision when supported).
        tokenizer: its tokenizer (``eos_token`` must be set).
        records: ``{"prompt", "completion"}`` dicts from :func:`minirl.sft.to_sft_records` (prompt = exact RL
            prompt text, completion = text + EOS).
        output_dir: where the model (safetensors), tokenizer and ``sft_metrics.json`` are written.
        epochs, lr, batch_size, grad_accum, max_steps, weight_decay: optimisation (``max_steps > 0`` overrides
            ``epochs``); AdamW with a linear decay, as TRL's default.
        warmup_steps: linear warmup, in steps (an int) or as a share of all steps (a float in [0, 1)).
        max_length: tokens per sequence; longer ones keep their start (prompt + first completion tokens).
        lora, lora_r, lora_alpha: train a LoRA adapter of rank ``lora_r`` (alpha defaults to ``2 * lora_r``).
        gradient_checkpointing: trade compute for memory (TRL turns it on by default; we do not).
        eval_records: optional held-out records; their loss is measured before and after training.
        logging_steps: log the training loss every this many optimizer steps.
        seed: data order and initialisation of LoRA weights.
        save: write the model to ``output_dir``.

    Returns:
        ``{"loss_history": [...], "steps": [...], "train_loss", "eval_loss_before", "eval_loss_after",
        "num_records", "num_truncated", "global_steps", "output_dir"}`` (eval losses are ``None`` without
        ``eval_records``). The same dict is saved as ``sft_metrics.json``.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if not records:
        raise ValueError("run_sft: no records to train on (did curation drop everything? see its report)")
    if tokenizer.eos_token is None:
        raise ValueError("run_sft: the tokenizer has no eos_token; set tokenizer.eos_token first")
    rows, truncated = _tokenize_records(records, tokenizer, max_length, "train")
    eval_rows = _tokenize_records(eval_records, tokenizer, max_length, "eval")[0] if eval_records else None

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    output_dir = Path(output_dir)
    # transformers 5 renamed gradient_checkpointing (TRL defaults it to True) to activation_checkpointing.
    fields = getattr(SFTConfig, "__dataclass_fields__", {})
    checkpointing = (
        "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    )
    config = SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=epochs,
        max_steps=max_steps,
        learning_rate=lr,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        warmup_steps=warmup_steps,
        weight_decay=weight_decay,
        max_length=max_length,
        completion_only_loss=True,  # labels = -100 on prompt tokens (built from our completion_mask)
        packing=False,
        **{checkpointing: gradient_checkpointing},
        bf16=bf16,  # fp32 on CPU: bf16 matmuls are slow on CPUs without AMX
        use_cpu=not cuda,
        logging_steps=logging_steps,
        save_strategy="no",
        report_to="none",
        seed=seed,
        data_seed=seed,
    )
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=lora_r,
            lora_alpha=lora_alpha or 2 * lora_r,
            lora_dropout=0.0,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    eval_before = trainer.evaluate()["eval_loss"] if eval_rows else None
    result = trainer.train()
    eval_after = trainer.evaluate()["eval_loss"] if eval_rows else None
    logged = [entry for entry in trainer.state.log_history if "loss" in entry and "step" in entry]
    trained = trainer.model
    if lora:
        trained = trained.merge_and_unload()  # writes the adapter into the base weights, in place
    metrics: dict[str, Any] = {
        "loss_history": [float(e["loss"]) for e in logged],
        "steps": [int(e["step"]) for e in logged],
        "train_loss": float(result.training_loss),
        "eval_loss_before": eval_before,
        "eval_loss_after": eval_after,
        "num_records": len(rows),
        "num_truncated": truncated,
        "global_steps": int(trainer.state.global_step),
        "output_dir": str(output_dir),
    }
    if save:
        output_dir.mkdir(parents=True, exist_ok=True)
        trained.save_pretrained(output_dir, safe_serialization=True)
        tokenizer.save_pretrained(output_dir)
        (output_dir / "sft_metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


# ---------------------------------------------------------------------------------------------------------------------
# Rejection sampling (R1 stage 3)


def sample_candidates(
    model: Any,
    tokenizer: Any,
    task: Any,
    examples: Sequence[Any],
    style: Any,
    k: int = 4,
    *,
    max_new_tokens: int = 256,
    temperature: float = 0.7,
    top_p: float = 1.0,
    batch_size: int = 8,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Sample ``k`` completions per problem; each becomes a record (``kind="sampled"``) for :func:`curate`.

    Records carry the problem's gold columns, so the curation filters can judge them. Sampling uses
    ``minirl.rollout.generate`` (stops at ``</answer>`` or EOS) with a generator seeded by ``seed``.
    """
    from minirl.rollout.generate import generate  # looked up per call, so tests can stub the sampler

    if k < 1:
        raise ValueError(f"sample_candidates: k must be >= 1, got {k}")
    if batch_size < 1:
        raise ValueError(f"sample_candidates: batch_size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    task_name = task if isinstance(task, str) else task.name
    out: list[dict[str, Any]] = []
    for start in range(0, len(examples), batch_size):
        chunk = list(examples[start : start + batch_size])
        prompts = [build_prompt(ex, tokenizer, style, task=task) for ex in chunk]
        rollout = generate(
            model,
            tokenizer,
            prompts,
            num_generations=k,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            stop_strings=("</answer>",),
            generator=generator,
        )
        for row, text in enumerate(rollout.texts):  # rows are grouped by prompt, k per prompt
            out.append(make_record(task_name, chunk[row // k], "sampled", text))
    return out


def rejection_keep(
    model: Any,
    tokenizer: Any,
    task: Any,
    examples: Sequence[Any],
    style: Any,
    k: int = 4,
    *,
    max_new_tokens: int = 256,
    temperature: float = 0.7,
    top_p: float = 1.0,
    batch_size: int = 8,
    seed: int = 0,
    filters: Iterable[FilterFn | tuple[str, FilterFn]] = DEFAULT_FILTERS,
    max_per_problem: int | None = None,
) -> tuple[list[dict[str, Any]], CurationReport]:
    """Sample ``k`` completions per problem and curate them: the kept pool records and the curation report.

    The report counts every sampled completion (``report.total``) and what each filter dropped; the cap per
    problem applies after curation. Arguments as :func:`rejection_sample`.
    """
    candidates = sample_candidates(
        model,
        tokenizer,
        task,
        examples,
        style,
        k,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        batch_size=batch_size,
        seed=seed,
    )
    kept, report = curate(candidates, filters)
    if max_per_problem is not None:
        kept = cap_per_problem(kept, max_per_problem)
    return kept, report


def rejection_sample(
    model: Any,
    tokenizer: Any,
    task: Any,
    examples: Sequence[Any],
    style: Any,
    k: int = 4,
    *,
    max_new_tokens: int = 256,
    temperature: float = 0.7,
    top_p: float = 1.0,
    batch_size: int = 8,
    seed: int = 0,
    filters: Iterable[FilterFn | tuple[str, FilterFn]] = DEFAULT_FILTERS,
    max_per_problem: int | None = None,
) -> list[dict[str, str]]:
    """R1's rejection sampling: sample ``k`` completions per problem, keep those every filter keeps, as SFT records.

    By default a kept trace is correct, well formed, single-language (code counts against), not a loop and not a
    near copy of another kept trace (:data:`minirl.curation.filters.DEFAULT_FILTERS`). For the counts per filter,
    call :func:`rejection_keep`, which this wraps.

    Args:
        max_per_problem: keep at most this many traces per problem (None = all that pass).
        Others: as :func:`sample_candidates`.

    Returns:
        ``{"prompt", "completion"}`` records (:func:`minirl.sft.to_sft_records`), ready for :func:`run_sft`;
        possibly empty.
    """
    kept, _ = rejection_keep(
        model,
        tokenizer,
        task,
        examples,
        style,
        k,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        batch_size=batch_size,
        seed=seed,
        filters=filters,
        max_per_problem=max_per_problem,
    )
    return to_sft_records(kept, tokenizer, style, task)


def cap_per_problem(records: list[dict[str, Any]], cap: int) -> list[dict[str, Any]]:
    """The first ``cap`` records of each problem (``prompt_question``), in input order.

    >>> [r["i"] for r in cap_per_problem([{"prompt_question": "q", "i": i} for i in range(3)], 2)]
    [0, 1]
    """
    if cap < 1:
        raise ValueError(f"max_per_problem must be >= 1, got {cap}")
    counts: dict[str, int] = {}
    out = []
    for rec in records:
        n = counts.get(rec["prompt_question"], 0)
        if n < cap:
            out.append(rec)
            counts[rec["prompt_question"]] = n + 1
    return out
