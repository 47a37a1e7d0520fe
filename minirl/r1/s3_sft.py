"""Stage 3 of the R1 pipeline, SFT on TRL's ``SFTTrainer``: the cold start before RL, and the round after stage 5.

The cold start fine-tunes the base model on a few thousand curated long-CoT examples before RL; after RL, rejection
sampling (stage 5, :mod:`minirl.r1.s5_rejection`) makes SFT data from the model's own correct samples and it is
fine-tuned again (R1 paper, sec. 2.3.1 and 2.3.3). :func:`run_sft` trains on :class:`~minirl.r1.records.SFTRecord`
pairs, which :func:`minirl.r1.records.to_sft_records` makes from the traces with the exact RL prompt. The loss is the
usual next-token negative log-likelihood on the completion tokens only:

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from minirl.config import ModelConfig
from minirl.models import lora_config, pick_device, pick_dtype
from minirl.r1.records import SFTRecord


def _tokenize_records(
    records: Sequence[SFTRecord], tokenizer: Any, max_length: int | None, what: str
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
                "build them with minirl.r1.records.to_sft_records()."
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
    records: Sequence[SFTRecord],
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
    lora: bool | ModelConfig = False,
    gradient_checkpointing: bool = False,
    eval_records: Sequence[dict[str, str]] | None = None,
    logging_steps: int = 1,
    seed: int = 0,
    save: bool = True,
) -> dict[str, Any]:
    """Fine-tune ``model`` on prompt-completion ``records`` with the loss on completion tokens only.

    The model is trained in place; with ``lora`` a LoRA adapter (peft; every linear layer by default) is trained and
    then merged into the weights, so either way ``model`` afterwards is a plain model ready for GRPO.

    Args:
        model: a causal LM (fp32 on CPU; on CUDA training uses bf16 mixed precision when supported).
        tokenizer: its tokenizer (``eos_token`` must be set).
        records: ``{"prompt", "completion"}`` dicts from :func:`minirl.r1.records.to_sft_records` (prompt = exact RL
            prompt text, completion = text + EOS).
        output_dir: where the model (safetensors), tokenizer and ``sft_metrics.json`` are written.
        epochs, lr, batch_size, grad_accum, max_steps, weight_decay: optimisation (``max_steps > 0`` overrides
            ``epochs``); AdamW with a linear decay, as TRL's default.
        warmup_steps: linear warmup, in steps (an int) or as a share of all steps (a float in [0, 1)).
        max_length: tokens per sequence; longer ones keep their start (prompt + first completion tokens).
        lora: train a LoRA adapter: ``True`` with the defaults of ``ModelConfig``'s ``lora_*`` fields (the ones
            ``--model.lora`` trains in GRPO), or a ``ModelConfig`` whose ``lora_*`` fields set it.
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

    device = pick_device()  # CUDA when available, else the CPU
    cuda = device.type == "cuda"
    bf16 = pick_dtype(device) == torch.bfloat16  # as minirl chooses: on a GPU that supports it
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
        peft_config = lora_config(lora if isinstance(lora, ModelConfig) else ModelConfig(lora=True))
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
