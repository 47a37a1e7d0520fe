"""Building the policy (full or LoRA), its reference, the optimizer and the learning-rate schedule."""

from __future__ import annotations

import copy
import math

import torch

from minirl.config import ModelConfig, TrainConfig


def lora_config(model_cfg: ModelConfig):
    """The peft ``LoraConfig`` of ``model.lora_*``: what minirl's trainer and its TRL backend both train.

    >>> lora_config(ModelConfig(lora_r=8, lora_target_modules="q_proj, v_proj")).target_modules == {"q_proj", "v_proj"}
    True
    """
    from peft import LoraConfig

    targets = model_cfg.lora_target_modules
    return LoraConfig(
        r=model_cfg.lora_r,
        lora_alpha=model_cfg.lora_alpha,
        lora_dropout=model_cfg.lora_dropout,
        target_modules=targets if targets == "all-linear" else [t.strip() for t in targets.split(",")],
        task_type="CAUSAL_LM",
    )


def prepare_policy(model, cfg: TrainConfig):
    """Wrap ``model`` for training as the config says; returns ``(policy, ref_model or None)``.

    The reference for the KL term costs nothing when it is not needed: none when ``beta == 0``; with LoRA the base
    model with the adapter disabled (the trainer calls ``disable_adapter()``), so no copy either; only full
    fine-tuning with ``beta > 0`` keeps a frozen copy.
    """
    if cfg.model.lora:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config(cfg.model))
    ref_model = None
    if cfg.grpo.beta > 0 and not cfg.model.lora:
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    return model, ref_model


def lr_factor(cfg: TrainConfig, total_updates: int):
    """Multiplier of the peak learning rate at each update: linear warmup, then constant, linear or cosine decay.

    >>> from minirl.config import parse_args
    >>> f = lr_factor(parse_args(["--optim.warmup_steps", "2", "--optim.scheduler", "linear"]), 10)
    >>> [round(f(u), 2) for u in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """
    warmup = cfg.optim.warmup_steps

    def fn(update: int) -> float:
        if warmup and update < warmup:
            return (update + 1) / warmup
        if cfg.optim.scheduler == "constant":
            return 1.0
        progress = min(1.0, (update - warmup) / max(1, total_updates - warmup))
        if cfg.optim.scheduler == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return fn


def make_optimizer(model, cfg: TrainConfig):
    """AdamW over the trainable parameters and its ``LambdaLR`` schedule (one scheduler step per update)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params,
        lr=cfg.optim.lr,
        betas=(cfg.optim.adam_beta1, cfg.optim.adam_beta2),
        weight_decay=cfg.optim.weight_decay,
    )
    updates = cfg.run.max_steps * cfg.grpo.num_iterations * cfg.grpo.num_minibatches
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, updates))
