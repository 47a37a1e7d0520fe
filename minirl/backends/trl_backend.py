"""``run.backend: trl``: the same recipe (model, task prompts, rewards and weights, GRPO settings) through TRL's
``GRPOTrainer``, for users who need TRL's vLLM server mode, DeepSpeed/FSDP integration or multi-node runs.

The objective is the same (DeepSeekMath arXiv:2402.03300 eq. 3 with the loss variants of ``minirl.grpo``;
tests/test_grpo_trl_parity.py checks our loss against TRL's). The mapping, field by field:

============================  ==========================================================
minirl ``TrainConfig``        TRL ``GRPOConfig``
============================  ==========================================================
rollout.num_generations       num_generations
rollout.prompts_per_step * G  per_device_train_batch_size (one prompt batch per step)
rollout.max_new_tokens        max_completion_length
rollout.temperature, top_p    temperature, top_p (top_k 0 = off, as ours)
grpo.loss_type, beta          loss_type, beta
grpo.epsilon_low / high       epsilon / epsilon_high
grpo.scale_rewards            scale_rewards
grpo.num_iterations           num_iterations
grpo.rewards (name: weight)   reward_funcs + reward_weights
optim.*                       learning_rate, adam_beta1/2, weight_decay, warmup_steps,
                              lr_scheduler_type (``scheduler_name``: constant + warmup is
                              constant_with_warmup), max_grad_norm
run.max_steps * num_iter.     max_steps (TRL counts updates; it generates every num_iterations)
run.seed                      seed
run.output_dir                output_dir (TRL writes its own logs and checkpoints there)
checkpoint.every, keep_last   save_steps, save_total_limit
model.lora*                   peft_config
============================  ==========================================================

Prompts are rendered by minirl (template, one-shot, ``<think>`` prefill) and given to TRL as plain text, in the order
minirl's :class:`~minirl.trainer.data.PromptSchedule` would use (``shuffle_dataset=False``), so step s of both
backends sees the same questions. Not mapped, because TRL has no equivalent: ``rollout.stop_at_answer`` (TRL stops
at EOS only), ``grpo.dynamic_sampling``, ``grpo.num_minibatches > 1``; a warning names each one that is set.
"""

from __future__ import annotations

import warnings
from typing import Any

from minirl.config import TrainConfig
from minirl.models import load_model_and_tokenizer, lora_config, pick_device
from minirl.tasks import PromptStyle, build_prompt, get_task, training_examples
from minirl.trainer.data import PromptSchedule
from minirl.trainer.rewards import RewardSet
from minirl.trainer.setup import scheduler_name


def _unmapped(cfg: TrainConfig) -> list[str]:
    """Settings that TRL cannot honour, as ``section.field=value`` strings."""
    out = []
    if cfg.rollout.stop_at_answer:
        out.append("rollout.stop_at_answer=true (TRL stops at EOS only)")
    if cfg.grpo.dynamic_sampling:
        out.append("grpo.dynamic_sampling=true")
    if cfg.data.curriculum:
        out.append("data.curriculum (TRL trains on data.task only)")
    if cfg.grpo.num_minibatches > 1:
        out.append(f"grpo.num_minibatches={cfg.grpo.num_minibatches}")
    return out


def trl_config_kwargs(cfg: TrainConfig, device: str = "cpu", bf16: bool | None = None) -> dict[str, Any]:
    """Keyword arguments of ``trl.GRPOConfig`` equivalent to ``cfg`` (pure: imports nothing from TRL).

    Args:
        cfg: the minirl run configuration.
        device: ``cpu`` or ``cuda``; on the CPU TRL runs in fp32 (its default bf16 is several times slower
            there; measured: docs/troubleshooting.md, section "Training is slow on CPU").
        bf16: force TRL's ``bf16`` flag (None = bf16 on CUDA, fp32 on CPU, as minirl picks).

    >>> from minirl.config_parse import parse_args
    >>> kw = trl_config_kwargs(parse_args(["--rollout.num_generations", "4", "--grpo.loss_type", "grpo"]))
    >>> kw["num_generations"], kw["per_device_train_batch_size"], kw["loss_type"], kw["bf16"]
    (4, 4, 'grpo', False)
    """
    r, g, o, run, checkpoint = cfg.rollout, cfg.grpo, cfg.optim, cfg.run, cfg.checkpoint
    on_cpu = device.startswith("cpu")
    return {
        "output_dir": run.output_dir,
        "per_device_train_batch_size": r.prompts_per_step * r.num_generations,
        "num_generations": r.num_generations,
        "max_completion_length": r.max_new_tokens,
        "temperature": r.temperature,
        "top_p": r.top_p,
        "top_k": 0,
        "loss_type": g.loss_type,
        "beta": g.beta,
        "epsilon": g.epsilon_low,
        "epsilon_high": g.epsilon_high,
        "scale_rewards": g.scale_rewards,
        "num_iterations": g.num_iterations,
        "learning_rate": o.lr,
        "adam_beta1": o.adam_beta1,
        "adam_beta2": o.adam_beta2,
        "weight_decay": o.weight_decay,
        "warmup_steps": o.warmup_steps,
        "lr_scheduler_type": scheduler_name(cfg),
        "max_grad_norm": o.max_grad_norm,
        # TRL's max_steps counts optimizer updates and it generates once every num_iterations of them
        "max_steps": run.max_steps * g.num_iterations,
        "seed": run.seed,
        "bf16": (not on_cpu) if bf16 is None else bf16,
        "use_cpu": on_cpu,
        "shuffle_dataset": False,  # the dataset is already in minirl's schedule order
        "logging_steps": run.log_every,
        "report_to": list(run.report_to) or "none",
        "save_strategy": "steps" if checkpoint.every else "no",
        "save_steps": checkpoint.every or 500,
        "save_total_limit": checkpoint.keep_last,
        # only when on: transformers 5 deprecates the key in favour of activation_checkpointing
        **({"gradient_checkpointing": True} if cfg.model.gradient_checkpointing else {}),
    }


def reward_functions(cfg: TrainConfig, task) -> tuple[list, list[float]]:
    """Our reward functions (TRL's signature already) with the names TRL logs them under, and their weights."""
    spec = cfg.grpo.rewards or dict(task.default_rewards)
    rs = RewardSet(spec)
    funcs = []
    for name, fn in zip(rs.names, rs.funcs):

        def named(completions, _fn=fn, **kwargs):
            return _fn(completions, **kwargs)

        named.__name__ = name  # TRL logs rewards/<__name__>/mean
        funcs.append(named)
    return funcs, rs.weights


def trl_dataset(cfg: TrainConfig, tokenizer, task=None):
    """A ``datasets.Dataset`` of rendered prompts plus the gold columns the rewards need, in minirl's step order.

    Row ``s * prompts_per_step + i`` is prompt i of step s in :class:`~minirl.trainer.GRPOTrainer` (one process).
    """
    from datasets import Dataset

    d = cfg.data
    task = task or get_task(d.task, **d.task_args)
    examples = training_examples(task, d.train_size, cfg.run.seed)
    schedule = PromptSchedule(examples, cfg.rollout.prompts_per_step, cfg.run.seed)
    style = PromptStyle.from_config(d)
    rows = []
    for step in range(cfg.run.max_steps):
        for ex in schedule.batch(step):
            rows.append({"prompt": build_prompt(ex, tokenizer, style, task=task), **ex.reward_kwargs()})
    return Dataset.from_list(rows)


def build_trl_trainer(
    cfg: TrainConfig, model=None, tokenizer=None, task=None, bf16: bool | None = None, **overrides: Any
):
    """A ready ``trl.GRPOTrainer`` for ``cfg`` (model and tokenizer are loaded as minirl does when omitted).

    ``overrides`` are extra ``GRPOConfig`` fields (e.g. ``disable_tqdm=True``), applied last.

    Raises:
        ModuleNotFoundError: TRL or ``datasets`` is missing, with the pip command that installs them.
    """
    try:
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as err:
        raise ModuleNotFoundError(
            f"run.backend=trl needs TRL and datasets: pip install trl datasets ({err})", name="trl"
        ) from None

    for item in _unmapped(cfg):
        warnings.warn(f"run.backend=trl: {item} has no TRL equivalent and is ignored.", stacklevel=2)
    device = pick_device(cfg.model.device)
    if model is None:
        # fp32 master weights everywhere; TRL's bf16 flag turns on autocast on the GPU.
        model, tokenizer = load_model_and_tokenizer(
            cfg.model.name, device=str(device), dtype="fp32", trust_remote_code=cfg.model.trust_remote_code
        )
    if tokenizer is None:
        raise ValueError("Pass a tokenizer together with the model.")
    task = task or get_task(cfg.data.task, **cfg.data.task_args)
    funcs, weights = reward_functions(cfg, task)
    kwargs = {**trl_config_kwargs(cfg, device.type, bf16=bf16), "reward_weights": weights, **overrides}
    args = GRPOConfig(**kwargs)
    peft_config = None
    if cfg.model.lora:
        peft_config = lora_config(cfg.model)
    return GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=trl_dataset(cfg, tokenizer, task),
        processing_class=tokenizer,
        peft_config=peft_config,
    )


def train_with_trl(cfg: TrainConfig, model=None, tokenizer=None, task=None):
    """Run ``cfg`` to ``run.max_steps`` with TRL's trainer and save the model (``checkpoint.save_model``); returns it."""
    trainer = build_trl_trainer(cfg, model, tokenizer, task)
    trainer.train()
    if cfg.checkpoint.save_model:
        trainer.save_model(f"{cfg.run.output_dir}/model")
    return trainer
