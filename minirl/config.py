"""Run configuration: grouped dataclasses, read from YAML and the command line by jsonargparse.

Each section is a dataclass; the string under a field is its documentation (``--help`` shows it, through
jsonargparse's attribute-docstring support) and ``__post_init__`` validates it, so a bad value fails before any
model is loaded, with a message that names the field and the value. :func:`parse_args` reads ``--config
FILE.yaml`` and then ``--section.field value`` (or ``section.field=value``) overrides, e.g.::

    accelerate launch recipes/r1_zero.py --config recipes/configs/r1_zero_smollm2_cpu.yaml --rollout.max_new_tokens 96

Parsing and type checking are `jsonargparse <https://jsonargparse.readthedocs.io>`_'s (the library litgpt parses its
dataclass configs with); this module adds the sections, their checks, and messages that name the field in one line
(:class:`ConfigError`, printed as ``error: ...`` by :func:`minirl.cli.run_main`). Two command-line conveniences
stay: a bare boolean flag means true (``--model.lora``), and a list may be written with commas
(``--mixing.arms uncurated,curated``).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from minirl.config_checks import ConfigError, _check, check_curriculum, check_worked_examples

LOSS_TYPES = ("grpo", "dapo", "dr_grpo")
BACKENDS = ("minirl", "trl")
ENGINES = ("auto", "exact", "fp32", "bf16", "vllm", "minirl")
SCALE_REWARDS = ("group", "batch", "none")
SCHEDULERS = ("constant", "linear", "cosine")


@dataclass
class ModelConfig:
    """Which model to train and how to hold it."""

    name: str = "smollm2-135m"
    """Embedded alias ``smollm2-135m``, a local checkpoint directory, or a Hub id."""
    device: str = "auto"
    """``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda``, ``cuda:1``, ``mps``."""
    dtype: str = "auto"
    """``auto`` = bf16 on a GPU that supports it, fp32 on CPU (bf16 is several times slower on CPUs without AMX;
    measured: docs/benchmarks.md, section Targets)."""
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
    """Recompute activations in backward: less memory, slower (docs/benchmarks.md, section Memory)."""

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
    """Prompt language and target language of the reasoning: ``en``, ``zh``, ``fr``, ``es`` or ``de`` (the
    instruction, example labels and, for arithmetic, the question and worked example, in that language)."""
    worked_examples: list[dict[str, str]] | None = None
    """Worked examples shown instead of the task's own (with ``one_shot``), each ``{question, reasoning, answer}``,
    shown as written. Show two ways to reason (a short and a stepwise one) and the policy chooses between them;
    a question of the task's held-out split is refused."""
    curriculum: list[dict] | None = None
    """Easier training tasks first: ``[{steps: N, task_args: {...}}, ...]`` (``task`` optional, default
    ``data.task``), N steps each in order, then ``data.task``; held-out evaluation is always ``data.task``'s."""

    def __post_init__(self):
        self.worked_examples = check_worked_examples(self.worked_examples)
        self.curriculum = check_curriculum(self.curriculum)
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
    ``fp32`` / ``bf16`` (the same loop over a plain copy, LoRA merged, refreshed after each step; the loss corrects
    for the difference with truncated importance sampling), ``vllm`` (needs ``pip install vllm``), or ``auto``
    (``fp32`` for a LoRA policy on a CPU, ``exact`` otherwise). ``bf16`` is faster on a CPU but did not keep learning
    unchanged on the R1-Zero default (measured: docs/benchmarks.md, section "the bf16 copy on the R1-Zero
    default"). See minirl.rollout.engines."""

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
    micro_batch_size: int | None = 16
    """Completions per forward/backward pass, for memory: gradients accumulate over the micro-batches of a minibatch,
    and the update equals the one of a single pass over it (the loss normaliser is the whole minibatch's). Also the
    batch of the frozen (reference, old-policy) log-probs. ``null`` = the whole minibatch at once."""

    def __post_init__(self):
        _check(self.lr > 0, f"optim.lr must be > 0, got {self.lr}")
        _check(
            self.scheduler in SCHEDULERS,
            f"optim.scheduler must be one of {SCHEDULERS}, got '{self.scheduler}'",
        )
        _check(self.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        _check(
            self.micro_batch_size is None or self.micro_batch_size >= 1,
            f"optim.micro_batch_size must be >= 1 or null, got {self.micro_batch_size}",
        )
        _check(self.max_grad_norm >= 0, f"optim.max_grad_norm must be >= 0, got {self.max_grad_norm}")


@dataclass
class RunConfig:
    """Length of the run, its outputs and its process settings."""

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
    overwrite: bool = False
    """Start afresh in an ``output_dir`` that already holds a run (its metrics and samples are replaced)."""
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
        _check(self.sample_every >= 0, f"run.sample_every must be >= 0, got {self.sample_every}")
        _check(self.log_every >= 1, f"run.log_every must be >= 1, got {self.log_every}")


@dataclass
class EvalConfig:
    """Held-out evaluation during the run (``data.eval_size`` problems; see docs/evaluation.md)."""

    every: int = 0
    """Evaluate on the held-out split every N steps (0 = off)."""
    at_start: bool = False
    """Evaluate before the first step (baseline for the report)."""
    at_end: bool = True
    """Evaluate after the last step."""
    max_new_tokens: int | None = None
    """Completion cap during evaluation (None = rollout.max_new_tokens)."""
    k: int = 1
    """Samples per held-out problem besides the greedy one (pass@k, maj@k and sampled pass@1 when > 1)."""
    temperature: float = 1.0
    """Sampling temperature of those samples (the training temperature shows what RL sharpened)."""
    batch_size: int = 128
    """Sequences decoded together (greedy + k samples per problem): wider batches amortise the long tails of a few
    rambling completions, and each row holds its KV cache (docs/benchmarks.md, memory)."""
    no_reasoning: bool = False
    """Also evaluate the held-out problems greedily with the reasoning removed (``</think>\\n<answer>`` forced right
    after the prompt), at the start and the end: how much accuracy rests on the reasoning (``no_reasoning/...``)."""
    transfer: dict[str, dict] = field(default_factory=dict)
    """Tasks the run does not train on, evaluated greedily at the start and at the end (with ``at_start`` /
    ``at_end``) to show whether RL made them worse: ``{name: {task: arithmetic, task_args: {num_terms: 3}, size:
    200}}``, ``size`` distinct problems of that task's test split, prompted in the run's style."""

    def __post_init__(self):
        for name, spec in self.transfer.items():
            _check(
                isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_.-]+", name) is not None,
                f"eval.transfer: name {name!r} must be letters, digits, '_', '-' or '.'",
            )
            _check(
                isinstance(spec, dict) and "task" in spec and set(spec) <= {"task", "task_args", "size"},
                f"eval.transfer.{name} must be a mapping with 'task' and optionally 'task_args' and 'size', "
                f"got {spec!r}",
            )
            size = spec.get("size", 200)
            _check(
                isinstance(size, int) and not isinstance(size, bool) and size > 0,
                f"eval.transfer.{name}.size must be a positive integer, got {size!r}",
            )
            _check(
                isinstance(spec.get("task_args", {}), dict),
                f"eval.transfer.{name}.task_args must be a mapping, got {spec.get('task_args')!r}",
            )
        _check(self.every >= 0, f"eval.every must be >= 0, got {self.every}")
        _check(self.batch_size >= 1, f"eval.batch_size must be >= 1, got {self.batch_size}")
        _check(self.k >= 1, f"eval.k must be >= 1, got {self.k}")
        _check(
            self.max_new_tokens is None or self.max_new_tokens >= 1,
            f"eval.max_new_tokens must be >= 1 or null, got {self.max_new_tokens}",
        )
        _check(self.temperature > 0, f"eval.temperature must be > 0, got {self.temperature}")


@dataclass
class CheckpointConfig:
    """Checkpoints to resume from, and the final model."""

    every: int = 0
    """Checkpoint every N steps (0 = only at the end and on Ctrl-C)."""
    keep_last: int = 2
    """Checkpoints kept."""
    resume: str | None = None
    """``latest`` or a checkpoint path to continue from."""
    save_model: bool = True
    """Save the final model (HF format, safetensors) in ``output_dir/model``."""
    merge_lora: bool = False
    """With LoRA, save the merged full model instead of the adapter."""

    def __post_init__(self):
        _check(self.every >= 0, f"checkpoint.every must be >= 0, got {self.every}")
        _check(self.keep_last >= 1, f"checkpoint.keep_last must be >= 1, got {self.keep_last}")


@dataclass
class TrainConfig:
    """Everything a GRPO run needs; one section per concern."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

    @property
    def eval_max_new_tokens(self) -> int:
        """The held-out evaluation's completion cap: ``eval.max_new_tokens``, or ``rollout.max_new_tokens`` unset.

        >>> TrainConfig(rollout=RolloutConfig(max_new_tokens=64)).eval_max_new_tokens
        64
        """
        return self.eval.max_new_tokens or self.rollout.max_new_tokens

    def to_dict(self) -> dict:
        """A plain nested dict (for YAML/JSON)."""
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Write the resolved config as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


C = typing.TypeVar("C", bound=TrainConfig)
"""A config class: :class:`TrainConfig` or a subclass that adds sections (the R1 pipeline's)."""

# ---------------------------------------------------------------------------------------------------------------------
# Parsing (jsonargparse) and one-line errors


def _field_types(cls: type) -> dict[str, dict[str, Any]]:
    """``{section: {field: annotation}}`` of a config class."""
    return {sec.name: typing.get_type_hints(sec.default_factory) for sec in fields(cls)}


def _is(annotation: Any, kind: type) -> bool:
    """Whether ``annotation`` is ``kind``, ``kind[...]`` or ``kind | None``."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    options = typing.get_args(annotation) if union else ()
    return any(a is kind or typing.get_origin(a) is kind for a in (annotation, *options))


def _normalise(argv: list[str], types: dict[str, dict[str, Any]]) -> list[str]:
    """jsonargparse's argv, from ours: ``a.b=v`` -> ``--a.b=v``, a bare boolean flag -> ``true``, ``x,y`` -> ``[x,y]``."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") and "=" in arg and "." in arg.split("=", 1)[0]:
            arg = "--" + arg
        key, eq, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        section, _, name = key.partition(".")
        annotation = types.get(section, {}).get(name)
        if annotation is None:
            out.append(arg)
        elif not eq:
            has_value = i + 1 < len(argv) and not argv[i + 1].startswith("--")
            if not has_value and _is(annotation, bool):
                out.append(f"--{key}=true")
            else:
                out.append(f"--{key}")
                if has_value:
                    i += 1
                    out.append(_as_list(argv[i]) if _is(annotation, list) else argv[i])
        else:
            out.append(f"--{key}={_as_list(value) if _is(annotation, list) else value}")
        i += 1
    return out


def _as_list(value: str) -> str:
    return value if value.lstrip().startswith("[") or value in ("null", "none", "None") else f"[{value}]"


_EXPECTED = re.compile(r"Expected a <class '(\w+)'>")
_GOT = re.compile(r"(?:Got|Given) value: (.*?)(?:\n|$)")
_WANTED = {"bool": "true/false", "dict": "a mapping like {a: 1}", "list": "a list like [a, b]"}


def _unknown(key: str, types: dict[str, dict[str, Any]], where: str = "") -> ConfigError:
    """The message for a key that is not a field: unknown field, unknown section, or no field named."""
    section, _, name = key.partition(".")
    if section not in types:
        return ConfigError(
            f"Unknown config section '{section}'{where}. Valid sections: {', '.join(sorted(types))}"
        )
    if not name:
        return ConfigError(f"Override '--{key}' must be section.field, e.g. --run.max_steps 10")
    return ConfigError(f"Unknown config field '{key}'{where}. Valid fields here: {', '.join(types[section])}")


def _config_error(err: Exception, types: dict[str, dict[str, Any]], where: str = "") -> ConfigError:
    """jsonargparse's error as one line that names the field (and, with ``where``, the file)."""
    text = str(err).strip()
    if text.startswith("unrecognized arguments:"):
        first = text.split(":", 1)[1].split()[0]
        if not first.startswith("--"):
            return ConfigError(
                f"Unexpected argument '{first}'. Use --section.field value, e.g. --run.max_steps 10"
            )
        return _unknown(first[2:].split("=", 1)[0], types)
    m = re.search(r"Group '(\w+)' does not accept option '(\w+)'", text)
    if m:
        return _unknown(f"{m[1]}.{m[2]}", types, where)
    m = re.search(r"Option '([\w.]+)' is not accepted", text)
    if m:
        return _unknown(m[1], types, where)
    m = re.search(r'Parser key "([\w.]+)"', text)
    if m:
        wanted = [w for w in _EXPECTED.findall(text) if w != "NoneType"]
        got = _GOT.search(text)
        if wanted and got:
            nullable = " (or null)" if "NoneType" in text else ""
            what = _WANTED.get(wanted[0], wanted[0])
            return ConfigError(f"{m[1]}{where}: expected {what}{nullable}, got {got[1].strip()!r}")
        return ConfigError(f"{m[1]}{where}: {' '.join(text.split(':', 1)[1].split())}")
    m = re.match(r"argument --([\w.]+): expected one argument", text)
    if m:
        return ConfigError(f"--{m[1]} needs a value" if "." in m[1] else _unknown(m[1], types).args[0])
    return ConfigError(" ".join(text.split()) + where)


@functools.cache
def _parser(cls: type):
    """The jsonargparse parser of ``cls`` (one ``--section.field`` per field, help from the docstrings), built once."""
    from jsonargparse import ArgumentParser, set_parsing_settings

    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    parser = ArgumentParser(
        prog=None,
        description=f"{cls.__doc__} Usage: [--config FILE.yaml] [--section.field VALUE ...]",
        exit_on_error=False,
        default_env=False,
    )
    # Listed for --help; parse_args reads the file itself (load_yaml) so that YAML errors name it.
    parser.add_argument("--config", type=str, help="YAML file with some or all of the sections below")
    parser.add_class_arguments(cls, fail_untyped=True)
    return parser


def _build(cls: type[C], data: Any, argv: list[str], source: str = "") -> C:
    """``cls`` from a YAML-like mapping of sections (``source`` names it in errors), then ``argv`` overrides."""
    from jsonargparse import ArgumentError

    types = _field_types(cls)
    where = f" (in {source})" if source else ""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(
            f"A config{where} must be a mapping of sections ({', '.join(sorted(types))}), got {data!r}"
        )
    for section, values in data.items():
        if section in types and values is not None and not isinstance(values, dict):
            raise ConfigError(
                f"Config section '{section}'{where} must be a mapping of fields, got {values!r}"
            )
    parser = _parser(cls)
    sections = {k: v for k, v in data.items() if v is not None}
    try:
        base = parser.parse_object(sections) if sections else None
    except ArgumentError as err:
        raise _config_error(err, types, where) from None
    try:
        if argv or base is None:
            base = parser.parse_args(_normalise(argv, types), **({} if base is None else {"namespace": base}))
        built = parser.instantiate(base)
    except ArgumentError as err:
        raise _config_error(err, types) from None
    return cls(**{name: built[name] for name in types})


def config_from_dict(
    data: dict, overrides: list[tuple[str, str]] | None = None, cls: type[C] = TrainConfig
) -> C:
    """Build a validated config of class ``cls`` (:class:`TrainConfig` or a subclass with more sections) from a
    nested dict (a YAML file's content) and ``(section.field, value)`` overrides.

    >>> config_from_dict({"run": {"max_steps": 3}}, [("eval.k", "4")]).eval.k
    4
    """
    return _build(cls, data, [f"--{key}={value}" for key, value in overrides or []])


def load_yaml(path: str | Path) -> dict:
    """Read a YAML config file, with errors that name the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"Config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(err).split())}") from None
    return {} if data is None else data


def parse_args(argv: list[str], default_config: str | Path | None = None, cls: type[C] = TrainConfig) -> C:
    """Parse ``[--config FILE] [--section.field VALUE | section.field=VALUE ...]`` into a ``cls`` config.

    ``default_config`` is read when ``argv`` names no ``--config``. ``--help`` prints every field and exits.

    >>> cfg = parse_args(["--run.max_steps", "3", "rollout.num_generations=4", "--eval.k", "2"])
    >>> cfg.run.max_steps, cfg.rollout.num_generations, cfg.eval.k
    (3, 4, 2)
    """
    config_path, rest, argv, i = default_config, [], list(argv), 0
    while i < len(argv):  # --config is the one option that is not a field
        if argv[i] == "--config":
            if i + 1 >= len(argv):
                raise ConfigError("--config needs a file path")
            config_path, i = argv[i + 1], i + 2
            continue
        if argv[i].startswith("--config="):
            config_path = argv[i].split("=", 1)[1]
        else:
            rest.append(argv[i])
        i += 1
    data = load_yaml(config_path) if config_path else {}
    return _build(cls, data, rest, str(config_path or ""))


def help_text(cls: type | None = None) -> str:
    """The ``--help`` text of ``cls`` (default :class:`TrainConfig`): every field, its default and docstring."""
    return _parser(cls or TrainConfig).format_help()
