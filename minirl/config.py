"""Run configuration: grouped dataclasses, loaded from YAML and overridden from the command line.

Every field has a docstring-style comment and is validated in ``__post_init__``, so a bad value fails before any model
is loaded, with a message that names the field. ``load_config`` reads ``--config FILE.yaml`` and then applies
``--section.field value`` (or ``section.field=value``) overrides, e.g.::

    accelerate launch recipes/r1_zero.py --config recipes/configs/smollm2_cpu.yaml --rollout.max_new_tokens 96
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

LOSS_TYPES = ("grpo", "dapo", "dr_grpo")
BACKENDS = ("minirl", "trl")
ENGINES = ("auto", "exact", "bf16", "vllm", "minirl")
SCALE_REWARDS = ("group", "batch", "none")
SCHEDULERS = ("constant", "linear", "cosine")


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the field."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


@dataclass
class ModelConfig:
    """Which model to train and how to hold it."""

    name: str = "smollm2-135m"
    """Embedded alias ``smollm2-135m``, a local checkpoint directory, or a Hub id."""
    device: str = "auto"
    """``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda``, ``cuda:1``, ``mps``."""
    dtype: str = "auto"
    """``auto`` = bf16 on a GPU that supports it, fp32 on CPU (bf16 is ~7x slower on CPUs without AMX)."""
    trust_remote_code: bool = False
    """Run model code from the checkpoint; off unless you trust it."""
    lora: bool = False
    """Train a LoRA adapter (peft) instead of all weights; the reference model is then the base with the
    adapter disabled (no copy)."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling numerator (scale = alpha / r)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA branch (0 keeps rollouts and training forward identical)."""
    lora_target_modules: str = "all-linear"
    """Modules to adapt: ``all-linear`` or a comma-separated list such as ``q_proj,v_proj``."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward: less memory, ~30% slower."""

    def __post_init__(self):
        _check(self.lora_r > 0, f"model.lora_r must be > 0, got {self.lora_r}")
        _check(0 <= self.lora_dropout < 1, f"model.lora_dropout must be in [0, 1), got {self.lora_dropout}")


@dataclass
class DataConfig:
    """The task (prompts + gold answers) and how prompts are written."""

    task: str = "arithmetic"
    """``arithmetic``, ``countdown`` or ``gsm8k``."""
    task_args: dict = field(default_factory=dict)
    """Task settings, e.g. ``{num_terms: 2, max_digits: 1}`` for arithmetic, ``{path: ...}`` for gsm8k."""
    train_size: int | None = None
    """Use only the first N training problems (None = all, or unlimited for procedural tasks)."""
    eval_size: int = 100
    """Held-out problems for evaluation."""
    template: str = "r1_zero"
    """``r1_zero`` (the DeepSeek-R1 paper's think/answer template) or ``plain``."""
    chat: bool | None = None
    """Render through the tokenizer's chat template (None = when it has one)."""
    system_prompt: str | None = None
    """Override the system prompt (None = the template's instruction)."""
    one_shot: bool = True
    """Put one worked example in the prompt; tiny models emit no tags without it."""
    prefill_think: bool = True
    """End the prompt with ``<think>`` so that the model starts inside the reasoning block."""
    language: str = "en"
    """Prompt language (``en`` or ``zh``)."""

    def __post_init__(self):
        _check(
            self.train_size is None or self.train_size > 0,
            f"data.train_size must be > 0, got {self.train_size}",
        )
        _check(self.eval_size >= 0, f"data.eval_size must be >= 0, got {self.eval_size}")
        _check(isinstance(self.task_args, dict), f"data.task_args must be a mapping, got {self.task_args!r}")


@dataclass
class RolloutConfig:
    """Sampling G completions per prompt."""

    num_generations: int = 8
    """G: completions per prompt (the group whose rewards are normalised)."""
    prompts_per_step: int = 1
    """Prompts per optimizer step on each process (the rollout batch is prompts_per_step * G sequences)."""
    max_new_tokens: int = 64
    """Completion length cap; completions that hit it are flagged as truncated."""
    temperature: float = 1.0
    """Sampling temperature (log-probs in the loss use the same temperature, as TRL does)."""
    top_p: float = 1.0
    """Nucleus sampling threshold (1.0 = off)."""
    stop_at_answer: bool = True
    """Stop a completion at ``</answer>`` (besides EOS)."""
    engine: str = "exact"
    """Who samples: ``exact`` (our KV-cached decode loop over the policy itself; ``minirl`` is its old name),
    ``bf16`` (the same loop over a bf16 copy refreshed after each step; the loss corrects for the difference with
    truncated importance sampling), ``vllm`` (needs ``pip install vllm``), or ``auto`` (``bf16`` on a CPU with native
    bf16 matmuls, AMX; ``exact`` elsewhere). See minirl.rollout.engines."""

    def __post_init__(self):
        _check(self.engine in ENGINES, f"rollout.engine must be one of {ENGINES}, got '{self.engine}'")
        _check(
            self.num_generations >= 2,
            f"rollout.num_generations must be >= 2 (GRPO normalises within a group), got {self.num_generations}",
        )
        _check(
            self.prompts_per_step >= 1, f"rollout.prompts_per_step must be >= 1, got {self.prompts_per_step}"
        )
        _check(self.max_new_tokens >= 1, f"rollout.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        _check(self.temperature > 0, f"rollout.temperature must be > 0 for training, got {self.temperature}")
        _check(0 < self.top_p <= 1, f"rollout.top_p must be in (0, 1], got {self.top_p}")


@dataclass
class GRPOConfig:
    """The GRPO objective."""

    rewards: dict[str, float] | None = None
    """Reward name -> weight (names from ``rewards.names()``); None = the task's defaults."""
    loss_type: str = "dapo"
    """``grpo`` (per-sequence mean), ``dapo`` (token-level mean), ``dr_grpo`` (constant normaliser)."""
    scale_rewards: str = "group"
    """Advantage scaling: ``group`` (r-mean)/std (GRPO), ``batch`` (std over the batch), ``none`` r-mean (Dr. GRPO)."""
    beta: float = 0.0
    """KL coefficient (k3 estimator). 0 = no reference model is computed at all."""
    epsilon_low: float = 0.2
    """Lower clip: ratio >= 1 - epsilon_low."""
    epsilon_high: float = 0.2
    """Upper clip: ratio <= 1 + epsilon_high (DAPO clip-higher uses 0.28)."""
    num_iterations: int = 1
    """mu: optimisation passes over each rollout batch (1 = on-policy, no old-log-prob forward)."""
    num_minibatches: int = 1
    """Optimizer steps per pass over a rollout batch."""
    tis_cap: float = 2.0
    """Cap C of the truncated importance weights min(pi_old / pi_sampler, C) applied when the rollout engine is not
    the trained policy (``rollout.engine bf16`` or ``vllm``; minirl.grpo.loss)."""
    dynamic_sampling: bool = False
    """DAPO dynamic sampling: drop zero-variance groups from the update (fraction is logged). A step whose groups all
    agree then makes no optimizer step, so AdamW's momentum cannot keep moving the weights (docs/trl_parity.md)."""

    def __post_init__(self):
        _check(
            self.loss_type in LOSS_TYPES,
            f"grpo.loss_type must be one of {LOSS_TYPES}, got '{self.loss_type}'",
        )
        _check(
            self.scale_rewards in SCALE_REWARDS,
            f"grpo.scale_rewards must be one of {SCALE_REWARDS}, got '{self.scale_rewards}'",
        )
        _check(self.beta >= 0, f"grpo.beta must be >= 0, got {self.beta}")
        _check(self.epsilon_low >= 0 and self.epsilon_high >= 0, "grpo.epsilon_low/high must be >= 0")
        _check(self.num_iterations >= 1, f"grpo.num_iterations must be >= 1, got {self.num_iterations}")
        _check(self.tis_cap > 0, f"grpo.tis_cap must be > 0, got {self.tis_cap}")
        _check(self.num_minibatches >= 1, f"grpo.num_minibatches must be >= 1, got {self.num_minibatches}")
        if self.rewards is not None:
            _check(
                isinstance(self.rewards, dict) and len(self.rewards) > 0,
                f"grpo.rewards must be a non-empty mapping name -> weight, got {self.rewards!r}",
            )


@dataclass
class OptimConfig:
    """AdamW and its schedule."""

    lr: float = 3e-5
    """Peak learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    adam_beta1: float = 0.9
    """AdamW beta1."""
    adam_beta2: float = 0.99
    """AdamW beta2."""
    warmup_steps: int = 0
    """Linear warmup steps."""
    scheduler: str = "constant"
    """``constant``, ``linear`` or ``cosine`` decay after warmup."""
    max_grad_norm: float = 1.0
    """Gradient clipping (0 = off)."""
    grad_accum: int = 1
    """Micro-batches per minibatch (gradients accumulate; for memory, not for a bigger batch)."""

    def __post_init__(self):
        _check(self.lr > 0, f"optim.lr must be > 0, got {self.lr}")
        _check(
            self.scheduler in SCHEDULERS,
            f"optim.scheduler must be one of {SCHEDULERS}, got '{self.scheduler}'",
        )
        _check(self.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        _check(self.grad_accum >= 1, f"optim.grad_accum must be >= 1, got {self.grad_accum}")
        _check(self.max_grad_norm >= 0, f"optim.max_grad_norm must be >= 0, got {self.max_grad_norm}")


@dataclass
class RunConfig:
    """Length of the run, outputs, checkpoints and evaluation."""

    output_dir: str = "runs/r1_zero"
    """Run directory: config.yaml, metrics.jsonl, samples.jsonl, checkpoints/, final model."""
    run_name: str | None = None
    """Label in plots and trackers (None = the output directory's name)."""
    max_steps: int = 40
    """Optimizer-step budget (one rollout batch per step)."""
    seed: int = 42
    """Seed for data order, sampling and init."""
    log_every: int = 1
    """Write metrics every N steps."""
    sample_every: int = 10
    """Write a few sample completions every N steps (0 = off)."""
    save_every: int = 0
    """Checkpoint every N steps (0 = only at the end and on Ctrl-C)."""
    keep_last: int = 2
    """Checkpoints kept."""
    resume: str | None = None
    """``latest`` or a checkpoint path to continue from."""
    overwrite: bool = False
    """Start afresh in an ``output_dir`` that already holds a run (its metrics and samples are replaced)."""
    eval_every: int = 0
    """Evaluate on the held-out split every N steps (0 = off)."""
    eval_at_start: bool = False
    """Evaluate before the first step (baseline for the report)."""
    eval_at_end: bool = True
    """Evaluate after the last step."""
    eval_max_new_tokens: int | None = None
    """Completion cap during evaluation (None = rollout.max_new_tokens)."""
    eval_k: int = 1
    """Samples per held-out problem besides the greedy one (pass@k, maj@k and sampled pass@1 when > 1)."""
    eval_temperature: float = 1.0
    """Sampling temperature of those samples (the training temperature shows what RL sharpened)."""
    save_model: bool = True
    """Save the final model (HF format, safetensors) in ``output_dir/model``."""
    merge_lora: bool = False
    """With LoRA, save the merged full model instead of the adapter."""
    report_to: list[str] = field(default_factory=list)
    """Extra trackers through accelerate: ``tensorboard``, ``wandb``, ``trackio`` (when installed)."""
    threads: int | None = None
    """torch CPU threads (None = torch's default, the number of cores)."""
    preflight: bool = True
    """Sample and score a few groups before training; stop when GRPO could not learn."""
    preflight_force: bool = False
    """Go on even when preflight finds that most groups have zero reward variance."""
    backend: str = "minirl"
    """``minirl`` (our trainer) or ``trl`` (the same recipe through TRL's GRPOTrainer; see minirl.backends)."""

    def __post_init__(self):
        _check(self.backend in BACKENDS, f"run.backend must be one of {BACKENDS}, got '{self.backend}'")
        _check(self.max_steps >= 1, f"run.max_steps must be >= 1, got {self.max_steps}")
        _check(self.keep_last >= 1, f"run.keep_last must be >= 1, got {self.keep_last}")
        for name in ("log_every", "sample_every", "save_every", "eval_every"):
            _check(getattr(self, name) >= 0, f"run.{name} must be >= 0, got {getattr(self, name)}")
        _check(self.log_every >= 1, f"run.log_every must be >= 1, got {self.log_every}")


@dataclass
class TrainConfig:
    """Everything a GRPO run needs; one section per concern."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        """A plain nested dict (for YAML/JSON)."""
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Write the resolved config as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


C = typing.TypeVar("C", bound=TrainConfig)
"""A config class: :class:`TrainConfig` or a subclass that adds sections (the R1 pipeline's)."""


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert a YAML/CLI value to the field's annotated type, with an error naming the field."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in {"none", "null"} and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "1", "yes", "on", "false", "0", "no", "off"}:
            return value.lower() in {"true", "1", "yes", "on"}
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            num = float(value) if annotation is float else value
            if annotation is int:
                num = int(value) if not isinstance(value, float) or value.is_integer() else None
                if num is None:
                    raise ValueError
            return num
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}") from None
    if annotation is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    if origin is dict or annotation is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping like {{a: 1}}, got {value!r}")
        return dict(value)
    if origin is list or annotation is list:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v] if not value.startswith("[") else yaml.safe_load(value)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return list(value)
    return value


def _apply(section_obj: Any, key: str, value: Any, where: str) -> None:
    hints = typing.get_type_hints(type(section_obj))
    names = [f.name for f in fields(section_obj)]
    if key not in names:
        raise ConfigError(f"Unknown config field '{where}'. Valid fields here: {', '.join(names)}")
    setattr(section_obj, key, _coerce(value, hints[key], where))


def config_from_dict(
    data: dict, overrides: list[tuple[str, str]] | None = None, cls: type[C] = TrainConfig
) -> C:
    """Build a validated config of class ``cls`` (:class:`TrainConfig` or a subclass with more sections) from a
    nested dict and ``(dotted.key, value)`` overrides."""
    cfg = cls()
    sections = {f.name for f in fields(cfg)}
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"A config file must be a mapping of sections ({', '.join(sorted(sections))}).")
    for section, values in data.items():
        if section not in sections:
            raise ConfigError(
                f"Unknown config section '{section}'. Valid sections: {', '.join(sorted(sections))}"
            )
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"Config section '{section}' must be a mapping, got {values!r}")
        for key, value in values.items():
            _apply(getattr(cfg, section), key, value, f"{section}.{key}")
    for dotted, raw in overrides or []:
        if "." not in dotted:
            raise ConfigError(f"Override '{dotted}' must be section.field, e.g. --run.max_steps 10")
        section, key = dotted.split(".", 1)
        if section not in sections:
            raise ConfigError(
                f"Unknown config section '{section}' in '--{dotted}'. Valid: {', '.join(sorted(sections))}"
            )
        value = yaml.safe_load(raw) if isinstance(raw, str) else raw
        _apply(
            getattr(cfg, section),
            key,
            value if value is not None or raw.lower() in {"null", "none", "~"} else raw,
            dotted,
        )
    # Re-run validation now that every field is set.
    for section in sections:
        obj = getattr(cfg, section)
        obj.__post_init__()
    return cfg


def load_yaml(path: str | Path) -> dict:
    """Read a YAML config file, with errors that name the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"Config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    return data or {}


def parse_args(argv: list[str], default_config: str | Path | None = None, cls: type[C] = TrainConfig) -> C:
    """Parse ``[--config FILE] [--section.field VALUE | section.field=VALUE ...]`` into a ``cls`` config.

    >>> cfg = parse_args(["--run.max_steps", "3", "rollout.num_generations=4"])
    >>> cfg.run.max_steps, cfg.rollout.num_generations
    (3, 4)
    """
    config_path = default_config
    overrides: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            raise SystemExit(help_text(cls))
        if arg == "--config" or arg.startswith("--config="):
            if "=" in arg:
                config_path = arg.split("=", 1)[1]
            else:
                if i + 1 >= len(argv):
                    raise ConfigError("--config needs a file path")
                config_path = argv[i + 1]
                i += 1
        elif arg.startswith("--"):
            key = arg[2:]
            if "=" in key:
                key, value = key.split("=", 1)
            else:
                if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                    value = "true"  # a bare flag, e.g. --model.lora
                else:
                    value = argv[i + 1]
                    i += 1
            overrides.append((key.replace("-", "_"), value))
        elif "=" in arg:
            key, value = arg.split("=", 1)
            overrides.append((key, value))
        else:
            raise ConfigError(
                f"Unexpected argument '{arg}'. Use --section.field value, e.g. --run.max_steps 10"
            )
        i += 1
    data = load_yaml(config_path) if config_path else {}
    return config_from_dict(data, overrides, cls)


def help_text(cls: type | None = None) -> str:
    """Every config field of ``cls`` (default :class:`TrainConfig`) with its default and description, for ``--help``."""
    lines = ["Usage: [--config FILE.yaml] [--section.field VALUE ...]", ""]
    for sec in fields(cls or TrainConfig):
        obj = sec.default_factory()
        lines.append(f"{sec.name}:")
        docs = _field_docs(type(obj))
        for f in fields(obj):
            lines.append(
                f"  --{sec.name}.{f.name} (default {json.dumps(getattr(obj, f.name))}): {docs.get(f.name, '')}"
            )
        lines.append("")
    return "\n".join(lines)


def _field_docs(cls: type) -> dict[str, str]:
    """Read the docstring placed under each field in the class source."""
    import ast
    import inspect

    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body
    for node, nxt in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
        ):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs
