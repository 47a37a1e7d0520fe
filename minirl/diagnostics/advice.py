"""Plain-words advice shared by preflight and the live checks: what a symptom likely means and which flag to try.

Every function returns a list of short sentences, most likely fix first, each naming the ``--section.field`` flag to
change. They read only a :class:`RunSettings` (a few fields of the run's config), so the advice can name concrete
values ("raise ``--rollout.max_new_tokens`` from 64 to 128") and skip fixes that are already on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMAT_REWARDS = ("format", "tag_count")
"""Rewards that score the output format rather than the answer."""

# How to make each task harder or easier through --data.task_args (defaults in minirl.tasks).
_HARDER = {
    "arithmetic": "--data.task_args '{num_terms: 3, max_digits: 2}'",
    "countdown": "--data.task_args '{num_numbers: 4, max_number: 50}'",
}
_EASIER = {
    "arithmetic": "--data.task_args '{num_terms: 2, max_digits: 1}'",
    "countdown": "--data.task_args '{num_numbers: 2, max_number: 10}'",
    "gsm8k": "--data.task arithmetic (learn the format on an easy task first)",
}


@dataclass(frozen=True)
class RunSettings:
    """The few settings that advice depends on; ``None`` means unknown (then the advice names the flag only).

    >>> RunSettings(max_new_tokens=64).max_new_tokens
    64
    """

    task: str | None = None
    template: str | None = None
    prefill_think: bool | None = None
    one_shot: bool | None = None
    max_new_tokens: int | None = None
    stop_at_answer: bool | None = None
    num_generations: int | None = None
    temperature: float | None = None
    beta: float | None = None
    lr: float | None = None
    max_grad_norm: float | None = None
    epsilon_high: float | None = None
    num_iterations: int | None = None
    num_minibatches: int | None = None
    dynamic_sampling: bool | None = None
    lora: bool | None = None
    warmup_steps: int | None = None
    dtype: str | None = None
    rewards: dict[str, float] = field(default_factory=dict)
    """Reward name -> weight of the run (empty when unknown)."""

    @classmethod
    def from_config(cls, cfg: Any, rewards: dict[str, float] | None = None) -> RunSettings:
        """Read a :class:`~minirl.config.TrainConfig` (or ``None``: everything unknown).

        Args:
            cfg: the run's config, or None.
            rewards: the rewards actually used (e.g. from the trainer's ``reward_set``); default ``cfg.grpo.rewards``.
        """
        if cfg is None:
            return cls(rewards=dict(rewards or {}))
        return cls(
            task=cfg.data.task,
            template=cfg.data.template,
            prefill_think=cfg.data.prefill_think,
            one_shot=cfg.data.one_shot,
            max_new_tokens=cfg.rollout.max_new_tokens,
            stop_at_answer=cfg.rollout.stop_at_answer,
            num_generations=cfg.rollout.num_generations,
            temperature=cfg.rollout.temperature,
            beta=cfg.grpo.beta,
            lr=cfg.optim.lr,
            max_grad_norm=cfg.optim.max_grad_norm,
            epsilon_high=cfg.grpo.epsilon_high,
            num_iterations=cfg.grpo.num_iterations,
            num_minibatches=cfg.grpo.num_minibatches,
            dynamic_sampling=cfg.grpo.dynamic_sampling,
            lora=cfg.model.lora,
            warmup_steps=cfg.optim.warmup_steps,
            dtype=cfg.model.dtype,
            rewards=dict(rewards if rewards is not None else (cfg.grpo.rewards or {})),
        )


def _fmt(x: float) -> str:
    return f"{x:g}"


def _rewards_flag(rewards: dict[str, float], add: str, weight: float) -> str:
    merged = {**(rewards or {"accuracy": 1.0, "format": 1.0}), add: weight}
    return "--grpo.rewards '{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in merged.items()) + "}'"


def truncation_advice(s: RunSettings) -> list[str]:
    """Most completions hit the length cap, so they never reach ``</answer>`` and score 0.

    >>> truncation_advice(RunSettings(max_new_tokens=64))[0]
    'raise the completion limit: --rollout.max_new_tokens 128 (now 64)'
    """
    if s.max_new_tokens:
        out = [
            f"raise the completion limit: --rollout.max_new_tokens {2 * s.max_new_tokens} (now {s.max_new_tokens})"
        ]
    else:
        out = ["raise the completion limit (--rollout.max_new_tokens)"]
    if s.stop_at_answer is False:
        out.append("end completions at </answer>: --rollout.stop_at_answer true")
    return out


def no_tag_advice(s: RunSettings) -> list[str]:
    """The model writes no (or broken) ``<think>/<answer>`` tags, so every format and answer reward is 0.

    >>> no_tag_advice(RunSettings(prefill_think=False, one_shot=True, rewards={"format": 1.0}))[0]
    'prefill the think block: --data.prefill_think true'
    """
    out = []
    if s.template == "plain":
        out.append("the 'plain' template does not ask for tags: use --data.template r1_zero")
    if not s.prefill_think:
        out.append("prefill the think block: --data.prefill_think true")
    if not s.one_shot:
        out.append("show one worked example in the prompt: --data.one_shot true")
    if "tag_count" not in s.rewards:
        out.append(
            f"add a soft tag reward, which pays for each tag: {_rewards_flag(s.rewards, 'tag_count', 0.5)}"
        )
    if not out:  # every prompt-side fix is on already
        out.append(
            "the model is too weak to find the format by sampling: use an instruct model or a short "
            "cold-start SFT first (minirl.r1.s3_sft.run_sft)"
        )
    return out


def no_signal_advice(
    s: RunSettings,
    *,
    format_rate: float | None = None,
    accuracy: float | None = None,
    truncated_rate: float | None = None,
    tag_rate: float | None = None,
) -> list[str]:
    """Why most groups have zero reward variance (all-equal rewards, zero advantages), judged from what was seen.

    Args:
        s: the run's settings.
        format_rate: share of completions in exact R1 format (``format_rate`` metric), None if unknown.
        accuracy: share of correct answers (``accuracy`` metric), None if unknown.
        truncated_rate: share of completions cut at the length cap, None if unknown.
        tag_rate: share of completions with at least one R1 tag, None if unknown.

    >>> no_signal_advice(RunSettings(max_new_tokens=32), truncated_rate=1.0)[0]
    'raise the completion limit: --rollout.max_new_tokens 64 (now 32)'
    >>> no_signal_advice(RunSettings(task="arithmetic"), accuracy=1.0, format_rate=1.0)[0]
    "the task is too easy (every answer is right): --data.task_args '{num_terms: 3, max_digits: 2}'"
    """
    out: list[str] = []
    if truncated_rate is not None and truncated_rate >= 0.5:
        out += truncation_advice(s)
    if (tag_rate is not None and tag_rate == 0) or (format_rate is not None and format_rate < 0.05):
        out += no_tag_advice(s)
    if accuracy is not None and accuracy >= 0.9:
        harder = _HARDER.get(s.task or "", "a harder task or harder --data.task_args")
        out.append(f"the task is too easy (every answer is right): {harder}")
    elif accuracy is not None and accuracy == 0 and format_rate is not None and format_rate >= 0.5:
        easier = _EASIER.get(s.task or "", "an easier task")
        out.append(f"the format is right but no answer is: an easier task ({easier})")
    more = f" {2 * s.num_generations}" if s.num_generations else ""
    out.append(f"more completions per prompt make a differing one likelier: --rollout.num_generations{more}")
    out += hotter_advice(s)
    return out


def hotter_advice(s: RunSettings) -> list[str]:
    """Sample more diversely, a step of 0.2 up to 1.0, where the temperature is below 1.

    A small step, not straight to 1.0: a small model's samples at 1.0 can be mostly wrong (SmolLM2-135M on 2-digit
    addition: pass@8 at T=1 is below greedy pass@1 and below pass@8 at T=0.5; measured: docs/r1_zero.md, section
    Why this task), which leaves nothing to reinforce.

    >>> hotter_advice(RunSettings(temperature=0.5))
    ['sample more diversely: --rollout.temperature 0.7 (now 0.5), if its samples stay right as often (python -m minirl.eval --k 8 --temperature 0.7)']
    >>> hotter_advice(RunSettings(temperature=1.0))
    []
    """
    if s.temperature is None or s.temperature >= 1.0:
        return []
    hotter = _fmt(round(min(1.0, s.temperature + 0.2), 2))
    return [
        f"sample more diversely: --rollout.temperature {hotter} (now {_fmt(s.temperature)}), if its samples stay "
        f"right as often (python -m minirl.eval --k 8 --temperature {hotter})"
    ]


def clip_can_act(s: RunSettings) -> bool:
    """Whether the PPO clip (and so clip-higher) can change a gradient in this run.

    With one pass over each rollout batch (mu = 1) and one minibatch, the policy that is trained is the one that
    sampled: the ratio is exactly 1 at every token and the clip is never active (``clip_ratio/region`` stays 0), so
    raising ``epsilon_high`` changes nothing. Unknown settings count as "can act".

    >>> clip_can_act(RunSettings(num_iterations=1, num_minibatches=1)), clip_can_act(RunSettings(num_iterations=2))
    (False, True)
    """
    return not (s.num_iterations == 1 and s.num_minibatches == 1)


def entropy_advice(s: RunSettings) -> list[str]:
    """The policy became (nearly) deterministic, so groups stop differing and exploration stops.

    Only advice that can act in this run is given: clip-higher only when the clip can be active (:func:`clip_can_act`);
    otherwise the way to make it act is named.

    >>> entropy_advice(RunSettings(beta=0.0))[-1]
    'anchor the policy to the reference model: --grpo.beta 0.04'
    >>> entropy_advice(RunSettings(num_iterations=1, num_minibatches=1, lr=3e-5))[0]
    'lower the learning rate: --optim.lr 1.5e-05'
    """
    out = []
    if clip_can_act(s) and (s.epsilon_high is None or s.epsilon_high < 0.28):
        now = "" if s.epsilon_high is None else f" (now {_fmt(s.epsilon_high)})"
        out.append(f"let rare tokens grow (DAPO clip-higher): --grpo.epsilon_high 0.28{now}")
    out.append(f"lower the learning rate: --optim.lr {_fmt(s.lr / 2)}" if s.lr else "lower --optim.lr")
    if s.lora is False:
        out.append("train a LoRA adapter, which moves the policy less per step: --model.lora true")
    out += hotter_advice(s)
    if not s.beta:
        out.append("anchor the policy to the reference model: --grpo.beta 0.04")
    if not clip_can_act(s):
        out.append(
            "clip-higher (--grpo.epsilon_high) acts only with more than one update per rollout batch "
            "(--grpo.num_minibatches 2 or --grpo.num_iterations 2); with one, the ratio is always 1"
        )
    return out


def spike_advice(s: RunSettings, what: str) -> list[str]:
    """A KL or grad-norm spike: the update was too large for the policy's current state.

    >>> spike_advice(RunSettings(lr=1e-4, max_grad_norm=0.0), "kl")[:2]
    ['lower the learning rate: --optim.lr 5e-05', 'clip gradients: --optim.max_grad_norm 1.0']
    """
    out = [f"lower the learning rate: --optim.lr {_fmt(s.lr / 2)}" if s.lr else "lower --optim.lr"]
    if not s.max_grad_norm:
        out.append("clip gradients: --optim.max_grad_norm 1.0")
    if not s.warmup_steps:
        out.append("warm the learning rate up: --optim.warmup_steps 10")
    if what == "kl":
        if s.num_iterations is None or s.num_iterations > 1:
            now = "" if s.num_iterations is None else f" (now {s.num_iterations})"
            out.append(f"take one gradient step per rollout: --grpo.num_iterations 1{now}")
        if s.dtype in (None, "bf16", "fp16"):
            out.append("train in fp32 (--model.dtype fp32) if bf16 is on")
    return out


def hacking_advice(s: RunSettings, top_reward: str | None) -> list[str]:
    """Train reward rises while held-out accuracy does not: a reward is being gamed, or only format is learnt.

    >>> hacking_advice(RunSettings(), "format")[0].startswith("the rise comes mostly from format rewards")
    True
    """
    out = []
    if top_reward in FORMAT_REWARDS:
        out.append(
            "the rise comes mostly from format rewards: expected while tags are learnt; if it lasts, give "
            "accuracy more weight in --grpo.rewards"
        )
    elif top_reward:
        out.append(
            f"the rise comes mostly from '{top_reward}': read samples.jsonl for completions that game it"
        )
    out.append(
        "read samples.jsonl: answers without reasoning, repeated tags, or answers copied from the prompt"
    )
    if "repetition" not in s.rewards:
        out.append(f"penalise repetition: {_rewards_flag(s.rewards, 'repetition', 1.0)}")
    return out


def join(problem: str, advice: list[str], limit: int = 3) -> str:
    """One line: the problem, then ``Try: a; b; c.`` with the first ``limit`` pieces of advice.

    >>> join("no signal", ["x", "y"])
    'no signal. Try: x; y.'
    """
    line = problem if not advice else f"{problem}. Try: {'; '.join(advice[:limit])}."
    return " ".join(line.split())  # one line, whatever the pieces held
