"""Preflight: sample a few groups with the run's exact prompts and rewards, and stop when GRPO could not learn.

GRPO's advantage of completion i in a group of G is A_i = (r_i - mean(r)) / std(r) (DeepSeekMath, arXiv:2402.03300,
sec. 4.1.2). When all G rewards of a group are equal, every A_i is 0 and the group adds nothing to the gradient
(DAPO, arXiv:2503.14476, sec. 3.2, drops such groups). If most groups look like that before training, the run will
spend its budget learning nothing: the usual cause is a small model that writes no ``<think>/<answer>`` tags, so every
reward is 0. SmolLM2-135M writes no tag with the bare R1 template (measured: docs/troubleshooting.md, section
Measured numbers).

``run_preflight`` samples ``num_prompts`` x G completions, scores them, and reports per reward the mean, the share of
samples scoring > 0 and the share of zero-variance groups, plus lengths, truncation and two samples. It restores every
random stream it touches, so a run with preflight trains exactly like one without.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import rewards
from minirl.diagnostics.advice import (
    RunSettings,
    hotter_advice,
    join,
    no_signal_advice,
    no_tag_advice,
    truncation_advice,
)
from minirl.files import dumps
from minirl.grpo import zero_variance_groups

_SEED_OFFSET = 7919  # preflight picks its prompts from its own stream, never the training schedule's


@dataclass(frozen=True)
class PreflightInputs:
    """What preflight reads of a run; ``GRPOTrainer.preflight_inputs()`` builds it."""

    cfg: Any
    """The run's :class:`~minirl.config.TrainConfig` (``run.seed``, and the settings the advice names)."""
    examples: Sequence[Any]
    """The training problems (``Example``) the prompts are picked from."""
    generator: torch.Generator
    """The sampling generator of the rollout; its state is restored afterwards."""
    model: Any
    """The policy: put in eval mode while sampling, then back in its former mode."""
    rollout: Callable[[list[Any]], Any]
    """``rollout(examples)`` samples G completions of each with the run's settings (a ``Rollout``)."""
    score: Callable[[list[Any], Any], Any]
    """``score(examples, rollout)``: the rewards (``Scores``: ``total``, ``metrics``, ``per_func``)."""
    reward_names: Sequence[str]
    """The names of the run's reward functions, in the order of ``Scores.per_func``."""
    reward_weights: Sequence[float]
    """Their weights, in the same order."""
    accelerator: Any = None
    """The run's ``accelerate.Accelerator``, or None (one process; ``print``)."""
    out: Path | None = None
    """The run directory, where ``preflight.json`` is saved (None: not saved)."""


@dataclass
class RewardSummary:
    """One reward function over the preflight samples."""

    name: str
    weight: float
    mean: float
    """Mean over the samples it scored (NaN when it scored none)."""
    positive_rate: float
    """Share of scored samples with a value > 0."""
    zero_variance_frac: float
    """Share of groups in which this reward gives every completion the same value."""


@dataclass
class PreflightReport:
    """What a few groups sampled before training look like, and whether GRPO can learn from them."""

    num_prompts: int
    num_generations: int
    threshold: float
    rewards: list[RewardSummary]
    total_mean: float
    total_positive_rate: float
    zero_variance_frac: float
    """Share of groups whose total reward is constant: they get zero advantages."""
    length_mean: float
    truncated_rate: float
    format_rate: float
    accuracy: float
    tag_rate: float
    """Share of completions with at least one R1 tag."""
    distinct_rate: float
    """Share of groups whose completions are not all the same text."""
    samples: list[str]
    settings: RunSettings = field(default_factory=RunSettings)

    @property
    def ok(self) -> bool:
        """False when more than ``threshold`` of the groups have zero reward variance."""
        return self.zero_variance_frac <= self.threshold

    def table(self) -> str:
        """A short plain-text table of the numbers."""
        cap = self.settings.max_new_tokens
        lines = [
            f"[minirl] preflight: {self.num_prompts} prompts x {self.num_generations} completions"
            + (f", max_new_tokens {cap}" if cap else ""),
            f"  {'reward':<20} {'weight':>6} {'mean':>6} {'>0':>5} {'zero-var groups':>16}",
        ]
        rows = [
            (r.name, f"{r.weight:g}", r.mean, r.positive_rate, r.zero_variance_frac) for r in self.rewards
        ]
        rows.append(("total", "", self.total_mean, self.total_positive_rate, self.zero_variance_frac))
        for name, weight, mean, pos, zv in rows:
            lines.append(f"  {name[:20]:<20} {weight:>6} {mean:>6.2f} {pos:>5.0%} {zv:>16.0%}")
        lines.append(
            f"  length {self.length_mean:.0f} tokens, truncated {self.truncated_rate:.0%}, "
            f"any tag {self.tag_rate:.0%}, format {self.format_rate:.0%}, accuracy {self.accuracy:.0%}, "
            f"groups with differing texts {self.distinct_rate:.0%}"
        )
        for i, text in enumerate(self.samples, 1):
            lines.append(f"  sample {i}: {text[:160]!r}" + (" ..." if len(text) > 160 else ""))
        verdict = "OK" if self.ok else "STOP, GRPO would learn (almost) nothing"
        lines.append(
            f"  zero-variance groups {self.zero_variance_frac:.0%} (limit {self.threshold:.0%}): {verdict}"
        )
        return "\n".join(lines)

    def _diagnose(self) -> tuple[list[str], list[str]]:
        """(causes, tips) that fit what was seen, the most basic first."""
        causes: list[str] = []
        tips: list[str] = []
        for r in self.rewards:  # your own reward is constant although the completions differ
            if r.zero_variance_frac == 1.0 and self.distinct_rate > 0 and r.name not in rewards.names():
                tips.append(
                    f"reward '{r.name}' gives every completion of a group the same value (mean {r.mean:g}): "
                    "check that it can tell completions apart"
                )
        if self.distinct_rate < 0.5:
            causes.append("the completions of a group are identical, so their rewards are too")
            tips += hotter_advice(self.settings)
        cut = self.truncated_rate >= 0.5
        found = [
            (
                cut,
                f"{self.truncated_rate:.0%} of completions hit the length cap before </answer>",
                truncation_advice(self.settings),
            ),
            (
                self.tag_rate == 0,
                "no completion contains a <think>/<answer> tag, so format and answer rewards are 0",
                no_tag_advice(self.settings),
            ),
        ]
        if self.truncated_rate < 0.9:  # some completions did end: missing tags, if any, are the deeper cause
            found.reverse()
        for hit, cause, advice in found:
            if hit:
                causes.append(cause)
                tips += advice
        if self.accuracy >= 0.9:
            causes.append("almost every answer is already right, so the rewards of a group agree")
        if not self.ok:
            if not causes:
                causes.append(
                    "no completion earns any reward"
                    if self.total_positive_rate == 0
                    else "the completions of a group mostly earn the same reward"
                )
            tips += no_signal_advice(
                self.settings, format_rate=self.format_rate, accuracy=self.accuracy, tag_rate=self.tag_rate
            )
        return causes, list(dict.fromkeys(tips))  # in order, without repeats

    def advice(self) -> str:
        """Plain words: the likely cause of what was seen and what to try, most likely fix first."""
        causes, tips = self._diagnose()
        if self.ok and not causes and not tips:
            return (
                f"[minirl] preflight: {1 - self.zero_variance_frac:.0%} of groups have differing rewards, "
                "so GRPO has a learning signal; nothing to fix."
            )
        if self.ok:
            head = f"{self.zero_variance_frac:.0%} of groups have zero reward variance (fine), but note"
        else:
            head = f"{self.zero_variance_frac:.0%} of groups have zero reward variance; likely cause"
        lines = [f"[minirl] preflight advice: {head}: {'; '.join(causes) or 'see below'}.", "  Try:"]
        lines += [f"  - {t}" for t in tips]
        lines.append("  More in docs/troubleshooting.md.")
        return "\n".join(lines)

    def summary(self) -> str:
        """One line for an error message or a log: the share of constant groups, the first cause and two fixes."""
        causes, tips = self._diagnose()
        problem = f"{self.zero_variance_frac:.0%} of preflight groups have zero reward variance"
        return join(problem + (f" ({causes[0]})" if causes else ""), tips, limit=2)

    def to_dict(self) -> dict[str, Any]:
        """The report as a dict (NaN stays a float here; ``minirl.files.dumps`` writes it as ``null``)."""
        out = dataclasses.asdict(self)
        out["ok"] = self.ok
        return out


class PreflightFailed(RuntimeError):
    """Preflight found that most groups have zero reward variance; ``.report`` holds the numbers."""

    def __init__(self, report: PreflightReport):
        self.report = report
        super().__init__(
            f"{report.summary()} GRPO would get (almost) no learning signal, so the run stops before training. "
            "Fix the setup (see the advice above and docs/troubleshooting.md), or go on anyway with "
            "--run.preflight_force true, or skip the check with --run.preflight false."
        )


def _group_zero_variance(values: list[float | None], g: int) -> float:
    """Share of groups of one reward's values that :func:`minirl.grpo.zero_variance_groups` finds constant.

    An unscored value (None, NaN) takes the first scored value of its group, which changes neither the group's
    maximum nor its minimum; so only scored values are compared, and a group with fewer than two counts as constant.
    """
    filled: list[float] = []
    for start in range(0, len(values), g):
        group = values[start : start + g]
        scored = [v for v in group if v is not None and not math.isnan(v)]
        filled += [
            v if v is not None and not math.isnan(v) else (scored[0] if scored else 0.0) for v in group
        ]
    if not filled:
        return 0.0
    return float(zero_variance_groups(torch.tensor(filled, dtype=torch.float64), g).float().mean())


def _summarise(name: str, weight: float, values: list[float | None], g: int) -> RewardSummary:
    scored = [v for v in values if v is not None and not math.isnan(v)]
    return RewardSummary(
        name=name,
        weight=weight,
        mean=sum(scored) / len(scored) if scored else float("nan"),
        positive_rate=sum(v > 0 for v in scored) / len(scored) if scored else 0.0,
        zero_variance_frac=_group_zero_variance(values, g),
    )


def run_preflight(run: PreflightInputs, num_prompts: int = 4, threshold: float = 0.5) -> PreflightReport:
    """Sample and score ``num_prompts`` x G completions with the run's template, sampling settings and rewards.

    Prompts are a seeded selection from ``run.examples`` (not the training schedule's); the run's sampling
    generator and the global torch/Python random states are restored afterwards, so training is unchanged.

    Args:
        run: what preflight reads of the run (``GRPOTrainer.preflight_inputs()``).
        num_prompts: groups to sample.
        threshold: the report is not ``ok`` when more than this share of groups has a constant total reward.

    Returns:
        The :class:`PreflightReport`.
    """
    if isinstance(num_prompts, bool) or not isinstance(num_prompts, int) or num_prompts < 1:
        raise ValueError(f"preflight: num_prompts must be an integer >= 1, got {num_prompts!r}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"preflight: threshold must be in [0, 1], got {threshold!r}")
    cfg = run.cfg
    pool = list(run.examples)
    examples = random.Random(cfg.run.seed + _SEED_OFFSET).sample(pool, min(num_prompts, len(pool)))

    gen_state = run.generator.get_state()
    torch_state, py_state = torch.get_rng_state(), random.getstate()
    was_training = run.model.training
    run.model.eval()
    try:
        with torch.no_grad():
            roll = run.rollout(examples)
        scores = run.score(examples, roll)
        total, metrics, per_func = scores.total, scores.metrics, scores.per_func
    finally:
        run.generator.set_state(gen_state)
        torch.set_rng_state(torch_state)
        random.setstate(py_state)
        run.model.train(was_training)

    g = roll.num_generations
    names, weights = run.reward_names, run.reward_weights
    total_list = [float(x) for x in total.cpu()]
    texts = roll.texts
    picks = [0, g] if len(texts) > g else [0, 1]
    return PreflightReport(
        num_prompts=len(examples),
        num_generations=g,
        threshold=float(threshold),
        rewards=[_summarise(n, w, v, g) for n, w, v in zip(names, weights, per_func)],
        total_mean=sum(total_list) / len(total_list),
        total_positive_rate=sum(v > 0 for v in total_list) / len(total_list),
        zero_variance_frac=float(zero_variance_groups(total.cpu(), g).float().mean()),
        length_mean=float(roll.lengths.float().mean()),
        truncated_rate=float(roll.truncated.float().mean()),
        format_rate=float(metrics.get("format_rate", float("nan"))),
        accuracy=float(metrics.get("accuracy", float("nan"))),
        tag_rate=sum(any(t in text for t in rewards.TAGS) for text in texts) / len(texts),
        distinct_rate=sum(len(set(texts[i : i + g])) > 1 for i in range(0, len(texts), g)) / len(examples),
        samples=[texts[i] for i in picks if i < len(texts)],
        settings=RunSettings.from_config(cfg, rewards=dict(zip(names, weights))),
    )


def check_preflight(
    run: PreflightInputs, force: bool = False, num_prompts: int = 4, threshold: float = 0.5, save: bool = True
) -> PreflightReport:
    """Run preflight, print its table (and advice when not ok), and raise :class:`PreflightFailed` unless ``force``.

    With several processes every process samples its own groups, and all of them stop when any one would (so no
    process waits forever for the others). With ``save`` the main process writes ``preflight.json`` to the run
    directory.

    Args:
        run: what preflight reads of the run (``GRPOTrainer.preflight_inputs()``).
        force: go on even when the report is not ok (``--run.preflight_force true``).
        num_prompts, threshold: as in :func:`run_preflight`.
        save: write ``<output_dir>/preflight.json``.
    """
    report = run_preflight(run, num_prompts=num_prompts, threshold=threshold)
    acc = run.accelerator
    say = acc.print if acc is not None else print
    stop = not report.ok
    if acc is not None and acc.num_processes > 1:
        flags = acc.gather(torch.tensor([float(stop)], device=acc.device))  # [world]
        stop = bool(flags.max() > 0)
    say(report.table())
    if save and (acc is None or acc.is_main_process) and run.out is not None:
        (run.out / "preflight.json").write_text(dumps(report.to_dict(), indent=1))
    if stop:
        say(report.advice())
        if not force:
            raise PreflightFailed(report)
        say("[minirl] preflight: --run.preflight_force is on, training anyway.")
    return report
