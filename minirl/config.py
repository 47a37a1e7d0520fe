"""Run configuration: one dataclass per section; the string under each field is its documentation and each
section's ``__post_init__`` checks it, so a bad value fails before any model is loaded, with a one-line
:class:`~minirl.config_checks.ConfigError` that names the field (printed as ``error: ...`` by
:func:`minirl.cli.run_main`). :mod:`minirl.config_parse` reads a config from YAML and the command line
(jsonargparse, whose ``--help`` shows those docstrings).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from minirl.config_checks import (
    _check,
    above,
    at_least,
    check_curriculum,
    check_transfer,
    check_worked_examples,
    one_of,
)

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
        above("model", self, lora_r=0)
        _check(0 <= self.lora_dropout < 1, f"model.lora_dropout must be in [0, 1), got {self.lora_dropout}")


@dataclass
class DataConfig:
    """The task (prompts + gold answers) and how prompts are written."""

    task: str = "arithmetic"
    """``arithmetic``, ``countdown``, ``gsm8k`` or ``mixture`` (``task_args: {parts: [{task, task_args, weight}]}``)."""
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
        at_least("data", self, eval_size=0)
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
        one_of("rollout", self, engine=ENGINES)
        _check(
            self.num_generations >= 2,
            f"rollout.num_generations must be >= 2 (GRPO normalises within a group), got {self.num_generations}",
        )
        at_least("rollout", self, prompts_per_step=1, max_new_tokens=1)
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
        one_of("grpo", self, loss_type=LOSS_TYPES, scale_rewards=SCALE_REWARDS)
        _check(self.epsilon_low >= 0 and self.epsilon_high >= 0, "grpo.epsilon_low/high must be >= 0")
        at_least("grpo", self, beta=0, num_iterations=1, num_minibatches=1)
        above("grpo", self, tis_cap=0)
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
        above("optim", self, lr=0)
        one_of("optim", self, scheduler=SCHEDULERS)
        at_least("optim", self, warmup_steps=0, max_grad_norm=0)
        _check(
            self.micro_batch_size is None or self.micro_batch_size >= 1,
            f"optim.micro_batch_size must be >= 1 or null, got {self.micro_batch_size}",
        )


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
        one_of("run", self, backend=BACKENDS)
        at_least("run", self, max_steps=1, sample_every=0, log_every=1)


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
        check_transfer(self.transfer)
        at_least("eval", self, every=0, batch_size=1, k=1)
        _check(
            self.max_new_tokens is None or self.max_new_tokens >= 1,
            f"eval.max_new_tokens must be >= 1 or null, got {self.max_new_tokens}",
        )
        above("eval", self, temperature=0)


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
        at_least("checkpoint", self, every=0, keep_last=1)


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

    @property
    def needs_reference_copy(self) -> bool:
        """Whether the KL term needs a frozen copy of the weights: full fine-tuning with ``grpo.beta > 0`` (with LoRA
        the base model, the adapter disabled, is the reference).

        >>> TrainConfig(grpo=GRPOConfig(beta=0.04)).needs_reference_copy, TrainConfig().needs_reference_copy
        (True, False)
        """
        return self.grpo.beta > 0 and not self.model.lora

    def to_dict(self) -> dict:
        """A plain nested dict (for YAML/JSON)."""
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Write the resolved config as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
