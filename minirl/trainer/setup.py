"""Setting a run up: precision and the accelerator, the policy (full or LoRA), its reference, the optimizer and the
learning-rate schedule; the preflight check of the run's memory and disk (``check_resources``)."""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from minirl.config import TrainConfig
from minirl.diagnostics.resources import check_memory, disk_warning, run_writes
from minirl.grpo.head import causal_lm
from minirl.memory import MemoryEstimate, ModelShape, available_bytes, estimate_memory
from minirl.models import load_model_and_tokenizer, lora_config, pick_device, pick_dtype
from minirl.rollout.engines import RolloutEngine, make_engine
from minirl.trainer.reference import MappedReference, Reference, make_reference


def precision(cfg: TrainConfig) -> tuple[torch.device, str]:
    """The run's device and accelerate ``mixed_precision``: ``bf16`` autocast where ``pick_dtype`` chooses bf16 (a
    GPU that supports it), ``no`` (fp32) on the CPU unless ``model.dtype`` asks otherwise.

    >>> from minirl.config_parse import parse_args
    >>> precision(parse_args(["--model.device", "cpu"]))
    (device(type='cpu'), 'no')
    """
    device = pick_device(cfg.model.device)
    mixed = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(pick_dtype(device, cfg.model.dtype), "no")
    if device.type == "cpu" and cfg.model.dtype == "auto":
        mixed = "no"
    return device, mixed


def make_accelerator(cfg: TrainConfig, device: torch.device, mixed: str):
    """The run's ``accelerate.Accelerator`` (trackers from ``run.report_to``).

    Under DDP, buffers are not broadcast at each forward (``broadcast_buffers=False``): the policy's buffers (rotary
    frequencies) never change, and the broadcast is a collective per forward call, while the number of forward calls
    depends on the data (``minirl.prefill`` runs the prompts' common prefix as a forward of its own only when the
    prompts share one). With it, a process holding one prompt and another holding two wait on each other forever.
    """
    from accelerate import Accelerator, DistributedDataParallelKwargs

    return Accelerator(
        cpu=device.type == "cpu",
        mixed_precision=mixed,
        log_with=cfg.run.report_to or None,
        project_dir=cfg.run.output_dir,
        kwargs_handlers=[DistributedDataParallelKwargs(broadcast_buffers=False)],
    )


def set_threads(cfg: TrainConfig, device, num_processes: int) -> None:
    """``accelerate launch`` sets OMP_NUM_THREADS=1, which makes a CPU run much slower on 2 cores: share the cores
    (measured: docs/troubleshooting.md, section Measured numbers, "CPU speed")."""
    if device.type == "cpu" or cfg.run.threads:
        torch.set_num_threads(cfg.run.threads or max(1, (os.cpu_count() or 1) // num_processes))


def load_policy(cfg: TrainConfig, device: torch.device, mixed: str, model=None, tokenizer=None):
    """The policy and its tokenizer: ``model`` and ``tokenizer`` when given, else ``model.name`` loaded on ``device``
    (fp32 master weights when ``mixed`` autocasts); a tokenizer without a pad token pads with EOS.

    Raises:
        ValueError: a model is given without its tokenizer.
    """
    if model is None:
        model, tokenizer = load_model_and_tokenizer(
            cfg.model.name,
            device=str(device),
            dtype="fp32" if mixed != "no" else cfg.model.dtype,
            trust_remote_code=cfg.model.trust_remote_code,
        )
    if tokenizer is None:
        raise ValueError("Pass a tokenizer together with the model.")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def distribute(accelerator, model, optimizer):
    """``accelerator.prepare(model, optimizer)``: the DDP wrapper when several processes train, else as they are.

    torch's DDP warns that ``broadcast_buffers`` is deprecated, which accelerate passes and has no successor for yet;
    that warning is silenced here, nothing else.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*broadcast_buffers", category=FutureWarning)
        return accelerator.prepare(model, optimizer)


def prepare_policy(model, cfg: TrainConfig, device=None, ref_folder: Path | None = None, rank: int = 0):
    """Wrap ``model`` for training as the config says, on ``device`` (where it is, if None); returns
    ``(policy, reference or None)``.

    The reference for the KL term costs nothing when it is not needed: none when ``beta == 0``; with LoRA the base
    model with the adapter disabled (the trainer calls ``disable_adapter()``), so no copy either; only full
    fine-tuning with ``beta > 0`` keeps a frozen copy (:func:`~minirl.trainer.reference.make_reference`: on the CPU
    mapped from a file in ``ref_folder`` only while it is used; in memory without a folder or on an accelerator).
    """
    if cfg.model.lora:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config(cfg.model))
    if cfg.model.gradient_checkpointing:
        lm = causal_lm(model)  # peft forwards neither name; transformers 5.2x renamed the method
        if hasattr(lm, "activation_checkpointing_enable"):
            lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    if device is not None:
        model.to(device)
    if not cfg.needs_reference_copy:
        return model, None
    if ref_folder is None:
        return model, Reference(copy.deepcopy(model).eval().requires_grad_(False))
    return model, make_reference(model, ref_folder, rank)


def make_sampler(cfg: TrainConfig, policy, device) -> RolloutEngine:
    """The engine that samples the rollouts (``rollout.engine``) over ``policy`` on ``device``. vLLM's engine is
    attached by the recipe (``minirl.backends.vllm_rollout``) and replaces this one, so ``vllm`` starts with
    ``exact``."""
    engine = "exact" if cfg.rollout.engine == "vllm" else cfg.rollout.engine
    return make_engine(engine, policy, device)


def scheduler_name(cfg: TrainConfig) -> str:
    """The ``transformers.get_scheduler`` name of ``optim.scheduler``, as both backends build it.

    ``constant`` with ``optim.warmup_steps > 0`` is ``constant_with_warmup``: a user who sets a warmup gets one
    (transformers' plain ``constant`` ignores the warmup). Warmup is linear from 0 (the LR of update ``u < warmup`` is
    ``lr * u / warmup``), then constant, linear decay to 0 or a half-cosine to 0 at the last update.

    >>> from minirl.config_parse import parse_args
    >>> scheduler_name(parse_args(["--optim.warmup_steps", "2"])), scheduler_name(parse_args([]))
    ('constant_with_warmup', 'constant')
    """
    if cfg.optim.scheduler == "constant" and cfg.optim.warmup_steps > 0:
        return "constant_with_warmup"
    return cfg.optim.scheduler


def total_updates(cfg: TrainConfig) -> int:
    """Optimizer updates in a run: ``run.max_steps`` rollout steps of ``num_iterations * num_minibatches`` each."""
    return cfg.run.max_steps * cfg.grpo.num_iterations * cfg.grpo.num_minibatches


def make_optimizer(model, cfg: TrainConfig):
    """AdamW over the trainable parameters and its LR schedule (one scheduler step per update).

    The schedule is ``transformers.get_scheduler``, the one TRL's trainer builds, so ``--run.backend trl`` follows the
    same LR sequence (``tests/test_lr_schedule.py``).
    """
    from transformers import get_scheduler

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params,
        lr=cfg.optim.lr,
        betas=(cfg.optim.adam_beta1, cfg.optim.adam_beta2),
        weight_decay=cfg.optim.weight_decay,
    )
    scheduler = get_scheduler(
        scheduler_name(cfg),
        optimizer,
        num_warmup_steps=cfg.optim.warmup_steps,
        num_training_steps=total_updates(cfg),
    )
    return optimizer, scheduler


def check_resources(
    model,
    tokenizer,
    prompts: list[str],
    cfg: TrainConfig,
    out: Path,
    device,
    say: Callable[[str], None],
    reference: Reference | None = None,
) -> MemoryEstimate:
    """Print the memory estimate of the run (``minirl.memory``) and stop when it does not fit (unless
    ``run.preflight_force``); warn when the run folder's disk is short of what the run will write.

    Args:
        model: the policy (unwrapped), for its shape.
        tokenizer, prompts: the longest of ``prompts`` in tokens sizes the estimate.
        cfg: the run's config (batch sizes, precision, ``checkpoint.*``).
        out: the run folder, whose disk is checked.
        device: where the run trains (its available memory).
        say: prints on the main process (``accelerator.print``).
        reference: the run's reference model (:func:`make_reference`); a copy mapped from a file only while used
            (``MappedReference``) is counted as such.
    """
    shape = ModelShape.of(model)
    mapped = isinstance(reference, MappedReference)
    prompt_tokens = max(len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"])
    estimate = estimate_memory(
        shape, cfg, prompt_tokens, available=available_bytes(device), mapped_reference=mapped
    )
    check_memory(estimate, force=cfg.run.preflight_force, say=say)
    weights = shape.params * shape.bytes_per_param
    writes = run_writes(
        weights, 2 * shape.trainable * 4, cfg.checkpoint.keep_last, bool(cfg.checkpoint.every),
        cfg.checkpoint.save_model,
    )  # fmt: skip
    warning = disk_warning(out, writes)
    if warning:
        say(warning)
    return estimate
