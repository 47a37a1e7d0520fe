"""Config sections of the R1 pipeline: cold-start SFT, rejection sampling and the language-mixing comparison.

The GRPO sections (model, data, rollout, grpo, optim, run, eval, checkpoint) are :class:`minirl.config.TrainConfig`'s; the classes
here add sections to it, so one YAML file describes a whole pipeline and ``--section.field`` overrides any field.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields

import rewards
from minirl.config import TrainConfig
from minirl.config_checks import ConfigError, _check, above, at_least
from minirl.r1.s1_pool import PoolConfig


@dataclass
class ColdStartConfig:
    """Cold start (stages 1-3; R1 paper, sec. 2.3.1): the synthetic pool it trains on and the SFT settings.

    The pool fields are :class:`minirl.r1.s1_pool.PoolConfig`'s, flattened into this section so that the command line
    reaches them (``--cold_start.mixed_language 0.4``); their defaults are PoolConfig's own.
    """

    num_examples: int = 400
    """Training problems in the pool (one trace each)."""
    mixed_language: float = PoolConfig.mixed_language
    """Share of traces that switch from English to Chinese (with a Russian sentence)."""
    code_in_reasoning: float = PoolConfig.code_in_reasoning
    """Share of traces whose reasoning turns into Python."""
    broken_tags: float = PoolConfig.broken_tags
    """Share of traces with a missing/doubled tag or text after the answer."""
    wrong_answer: float = PoolConfig.wrong_answer
    """Share of clean-looking traces with a wrong final answer."""
    repetition: float = PoolConfig.repetition
    """Share of traces with a repetition loop."""
    duplicate: float = PoolConfig.duplicate
    """Share of near copies of other traces."""
    mixed_traces_correct: bool = PoolConfig.mixed_traces_correct
    """Mixed-language and code traces carry the right answer (so a correctness reward pays them)."""
    mixed_strategy: str = PoolConfig.mixed_strategy
    """How mixed traces reason: ``same`` (the English steps, translated) or ``counting`` (count up, in Chinese)."""
    language_threshold: float = rewards.MIXED_BELOW
    """Curation keeps a trace when at least this share of its reasoning words is in the target language."""
    epochs: float = 1.0
    """SFT epochs over the (curated or raw) pool."""
    lr: float = 5.0e-5
    """SFT learning rate (AdamW, linear decay)."""
    batch_size: int = 8
    """SFT sequences per optimizer step."""
    max_length: int = 512
    """SFT tokens per sequence (prompt + completion)."""
    lora: bool = False
    """Train a LoRA adapter and merge it (else full fine-tuning)."""
    seed: int = 0
    """Seed of the pool (which problems, which defects) and of the SFT data order."""

    def __post_init__(self):
        at_least("cold_start", self, num_examples=1)
        above("cold_start", self, epochs=0, lr=0)
        at_least("cold_start", self, batch_size=1, max_length=16)
        _check(
            0 < self.language_threshold <= 1,
            f"cold_start.language_threshold must be in (0, 1], got {self.language_threshold}",
        )
        try:
            self.pool()
        except ValueError as err:
            raise ConfigError(f"cold_start: {err}") from None

    def pool(self) -> PoolConfig:
        """The uncurated pool's shares as a :class:`minirl.r1.s1_pool.PoolConfig`."""
        names = {f.name for f in fields(PoolConfig)}
        return PoolConfig(**{f.name: getattr(self, f.name) for f in fields(self) if f.name in names})


@dataclass
class RejectionConfig:
    """Rejection sampling (stage 5; R1 paper, sec. 2.3.3): sample from the RL model, keep correct single-language
    traces, SFT again."""

    enabled: bool = False
    """Run the rejection-sampling SFT round after GRPO."""
    num_prompts: int = 200
    """Training problems to sample from."""
    samples_per_prompt: int = 4
    """Completions sampled per problem."""
    temperature: float = 0.7
    """Sampling temperature."""
    max_per_problem: int = 2
    """Kept traces per problem at most (keeps easy problems from dominating)."""
    epochs: float = 1.0
    """SFT epochs over the kept traces."""
    lr: float = 2.0e-5
    """SFT learning rate."""

    def __post_init__(self):
        at_least("rejection", self, num_prompts=1, samples_per_prompt=1)
        above("rejection", self, temperature=0)
        at_least("rejection", self, max_per_problem=1)
        _check(self.epochs > 0 and self.lr > 0, "rejection.epochs and rejection.lr must be > 0")


ARM_NAMES = ("uncurated", "curated", "r1_zero", "curation_only", "reward_only", "r1_zero_language")


@dataclass
class MixingConfig:
    """The curated-vs-uncurated comparison: which arms run and how they are measured."""

    arms: list = field(default_factory=lambda: ["uncurated", "curated", "r1_zero"])
    """Arms to run, from ``uncurated`` (A: raw SFT, accuracy+format), ``curated`` (B: curated SFT + language
    reward), ``r1_zero`` (C: no SFT; Z of the natural-drift comparison), ``curation_only`` and ``reward_only``
    (the 2x2's other cells), ``r1_zero_language`` (ZL: no SFT, with the language reward)."""
    language_reward: float = 1.0
    """Weight of the language-consistency reward in the arms that use it."""
    eval_size: int = 32
    """Held-out problems measured before and after RL."""
    eval_k: int = 4
    """Samples per held-out problem (at the training temperature) for the mixing and accuracy numbers."""
    r1_zero_one_shot: bool = True
    """Give the R1-Zero arm (no SFT) the worked example in its prompt: a base model emits no tags without it,
    while the SFT arms learn the format from their cold start."""

    def __post_init__(self):
        unknown = [a for a in self.arms if a not in ARM_NAMES]
        _check(not unknown, f"mixing.arms: unknown arm(s) {unknown}; choose from {list(ARM_NAMES)}")
        _check(len(self.arms) == len(set(self.arms)), f"mixing.arms has duplicates: {self.arms}")
        _check(bool(self.arms), "mixing.arms must name at least one arm")
        above("mixing", self, language_reward=0)
        at_least("mixing", self, eval_size=1, eval_k=1)


def _train_part(cfg: TrainConfig) -> TrainConfig:
    """A deep copy of the GRPO sections only (what :class:`minirl.trainer.GRPOTrainer` reads and saves)."""
    return TrainConfig(**{f.name: copy.deepcopy(getattr(cfg, f.name)) for f in fields(TrainConfig)})


@dataclass
class R1Config(TrainConfig):
    """``recipes/r1.py``: curated cold start, GRPO with a language reward, optional rejection-sampling round."""

    cold_start: ColdStartConfig = field(default_factory=ColdStartConfig)
    rejection: RejectionConfig = field(default_factory=RejectionConfig)

    def train_config(self) -> TrainConfig:
        """The GRPO sections as a plain :class:`TrainConfig`."""
        return _train_part(self)


@dataclass
class LanguageMixingConfig(TrainConfig):
    """``recipes/language_mixing.py``: the GRPO sections are shared by every arm (same seed and budget)."""

    cold_start: ColdStartConfig = field(default_factory=ColdStartConfig)
    mixing: MixingConfig = field(default_factory=MixingConfig)

    def train_config(self) -> TrainConfig:
        """The GRPO sections as a plain :class:`TrainConfig`."""
        return _train_part(self)
