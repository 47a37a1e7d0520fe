"""Scoring a rollout: the run's weighted rule rewards called with TRL's reward-function signature.

Each reward is ``fn(completions, **kwargs) -> list[float | None]``; gold columns arrive as keyword lists (one entry per
completion, the example's value repeated G times), plus ``prompts`` and ``completion_ids``. The weighted sum skips
``None`` (not applicable) like TRL's nansum; per-reward mean/std are logged over the non-None values.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

import rewards as rewards_pkg
from minirl.eval.ways import way_shares, ways_of_reasoning
from minirl.grpo import rewards_to_tensor
from minirl.tasks import render_completion

RewardFn = Callable[..., list]


def _stats(values: Sequence[float | None]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return float("nan"), float("nan")
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / len(vals)
    return mean, math.sqrt(var)


class RewardSet:
    """Named, weighted reward functions.

    Args:
        spec: ``{name: weight}`` with names from ``rewards.names()``, or ``[(name, fn, weight), ...]`` for your own
            functions.

    >>> rs = RewardSet({"format": 1.0})
    >>> rs.names
    ['format']
    """

    def __init__(self, spec: dict[str, float] | Sequence[tuple[str, RewardFn, float]]):
        self.names: list[str] = []
        self.funcs: list[RewardFn] = []
        self.weights: list[float] = []
        items = spec.items() if isinstance(spec, dict) else spec
        for item in items:
            if isinstance(spec, dict):
                name, weight = item
                try:
                    fn = rewards_pkg.get(name)
                except KeyError as err:
                    raise ValueError(f"grpo.rewards: {err.args[0] if err.args else err}") from None
            else:
                name, fn, weight = item
            if not isinstance(weight, (int, float)) or math.isnan(weight):
                raise ValueError(f"grpo.rewards: weight of '{name}' must be a number, got {weight!r}")
            self.names.append(name)
            self.funcs.append(fn)
            self.weights.append(float(weight))
        if not self.funcs:
            raise ValueError("grpo.rewards: at least one reward is needed")

    def score(self, completions: list[str], **kwargs) -> tuple[list[list[float | None]], dict[str, float]]:
        """Run every reward; returns the per-function values and ``rewards/<name>/{mean,std}`` metrics."""
        per_func: list[list[float | None]] = []
        metrics: dict[str, float] = {}
        for name, fn in zip(self.names, self.funcs):
            values = fn(completions, **kwargs)
            if len(values) != len(completions):
                raise ValueError(
                    f"Reward '{name}' returned {len(values)} values for {len(completions)} completions."
                )
            values = [None if v is None else float(v) for v in values]
            per_func.append(values)
            mean, std = _stats(values)
            metrics[f"rewards/{name}/mean"] = mean
            metrics[f"rewards/{name}/std"] = std
        return per_func, metrics


@dataclass
class Scores:
    """A rollout's rewards: GRPO's r_i (DeepSeekMath eq. 3's rewards before group normalisation)."""

    total: torch.Tensor  # [N] weighted sum over the reward functions that scored each completion
    valid: torch.Tensor  # [N] False where every function said "not applicable" (left out of group statistics)
    per_func: list[list[float | None]]  # one list per reward function
    metrics: dict[str, float]  # rewards/<name>/{mean,std} and the quality metrics


def score_rollout(
    reward_set: RewardSet, task, examples: list, roll, language: str = "en", device=None
) -> Scores:
    """Score every completion of ``roll`` (G per example) with the run's rewards, as TRL passes columns.

    Besides the trained rewards, the metrics hold what is logged whether or not it is trained on: ``accuracy`` (the
    task's own notion of a right answer), ``format_rate``, the language share and mixed rate, lengths, truncation, and
    the share and accuracy of each way of reasoning (``ways/...``, :func:`minirl.eval.ways.way_shares`).

    ``language/mixed_rate`` is the *training* mixed rate: of this step's sampled completions that have words, all
    prompts pooled, the share whose target-language share is below ``rewards.MIXED_BELOW`` (NaN when none has words).
    The same rule as, but not the same number as, the evaluation's greedy ``mixed_rate``
    (:func:`minirl.eval.runner.summarize`) and the language-mixing report's per-problem ``mixed_rate``
    (:func:`minirl.r1.mixing.mixing_metrics`).

    ``total`` and ``valid`` are put on ``device`` when one is given (the run's, where the advantages are computed).
    """
    g = roll.num_generations
    kwargs: dict[str, list] = {}
    for ex in examples:
        for key, value in ex.reward_kwargs().items():
            kwargs.setdefault(key, []).extend([value] * g)
    kwargs["prompts"] = [p for p in roll.prompts for _ in range(g)]
    kwargs["language"] = [language] * len(roll.texts)  # the target of a language-consistency reward
    kwargs["completion_ids"] = roll.completion_token_lists()
    per_func, metrics = reward_set.score(roll.texts, **kwargs)
    total, matrix = rewards_to_tensor(per_func, reward_set.weights)  # [N], [N, F]
    lang = rewards_pkg.language_consistency_reward(roll.texts, language=language)
    lengths = roll.lengths.float()  # [N]
    correct = task.correct(roll.texts, **kwargs)
    metrics.update(way_shares(ways_of_reasoning(roll.texts), correct))  # which way each completion took
    metrics.update(
        {
            "accuracy": _mean(correct),
            "format_rate": _mean(rewards_pkg.format_reward(roll.texts)),
            "language/target_share": _mean(lang),
            "language/mixed_rate": _mean([float(v < rewards_pkg.MIXED_BELOW) for v in lang if v is not None]),
            "language/english_share": _mean([rewards_pkg.english_share(t, language) for t in roll.texts])
            if language != "en"
            else _mean(lang),
            "completion_length/mean": float(lengths.mean()),
            "completion_length/max": float(lengths.max()),
            "truncated_rate": float(roll.truncated.float().mean()),
        }
    )
    valid = ~matrix.isnan().all(dim=1)  # [N] some reward could score it
    if device is not None:
        total, valid = total.to(device), valid.to(device)
    return Scores(total, valid, per_func, metrics)


def _mean(values) -> float:
    return _stats(values)[0]


def check_gold_columns(reward_set: RewardSet, task, example) -> None:
    """Score the task's ideal completion once, so that a reward needing a column the task lacks fails before training.

    Raises:
        ValueError: naming the reward, the missing column and the columns the task has.
    """
    available = set(example.reward_kwargs())
    text = render_completion(example, "Let me add the numbers step by step.", task.answer_text(example))
    kwargs = {k: [v] for k, v in example.reward_kwargs().items()}
    for name, fn in zip(reward_set.names, reward_set.funcs):
        target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else fn.__call__
        try:
            params = [
                p
                for p in inspect.signature(target).parameters.values()
                if p.name not in ("self", "completions", "prompts", "completion_ids", "kwargs")
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            ]
        except (TypeError, ValueError):
            params = []
        missing = [p.name for p in params if p.name not in available and p.name != "language"]
        try:
            values = fn([text], prompts=[""], completion_ids=[[0]], **kwargs)
        except (TypeError, ValueError) as err:  # the reward itself says what it lacks
            values, missing = [None], missing or [str(err)]
        if missing and (
            values[0] is None
            or any(p.default is inspect.Parameter.empty for p in params if p.name in missing)
        ):
            raise ValueError(
                f"Reward '{name}' needs the gold column '{missing[0]}', which task '{task.name}' does not "
                f"provide (it has: {', '.join(sorted(available)) or 'none'}). Pick rewards that fit the task."
            )
