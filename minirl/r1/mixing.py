"""Curated vs uncurated cold start: reproduce R1-Zero's language mixing and measure R1's two fixes.

DeepSeek-R1 (sec. 2.3) fixed R1-Zero's mixed-language reasoning with (a) a curated cold start and (b) a
language-consistency reward, "the proportion of target language words in the CoT". The arms, all with the same
GRPO sections (seed, steps, prompts, rewards besides the language one):

- ``uncurated`` (A): SFT on the raw synthetic pool, then GRPO with accuracy + format only;
- ``curated`` (B): SFT on the curated pool, then GRPO with the language reward added (R1's recipe);
- ``r1_zero`` (C): no SFT, GRPO from the base model (reference);
- ``curation_only`` / ``reward_only``: the other two cells of the 2x2, to split B's effect between its fixes.

Every arm is measured on the same held-out problems right after its cold start and after RL, with ``k``
samples per problem at the training temperature: accuracy, format, mixed-language rate (share of completions
whose reasoning is < 95% target-language words, code counting against), mean target-language share and
code-in-reasoning rate. Intervals are percentile bootstraps over problems (samples of one problem are not
independent).
"""

from __future__ import annotations

import gc
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rewards
from minirl.config import TrainConfig
from minirl.eval.metrics import Estimate, mean_estimate
from minirl.eval.runner import evaluate_examples
from minirl.files import read_metrics
from minirl.plot.curves import plot_runs
from minirl.r1.config import LanguageMixingConfig
from minirl.r1.pipeline import cold_start_sft
from minirl.r1.s4_grpo import run_grpo
from minirl.tasks import get_task
from minirl.trainer.rundir import EvalContext


@dataclass(frozen=True)
class Arm:
    """One cell of the comparison."""

    name: str
    label: str
    cold_start: str | None
    """``"raw"``, ``"curated"`` or ``None`` (no SFT)."""
    language_reward: bool


ARMS = {
    "uncurated": Arm("uncurated", "A uncurated (raw SFT, acc+format)", "raw", False),
    "curated": Arm("curated", "B curated (curated SFT + language reward)", "curated", True),
    "r1_zero": Arm("r1_zero", "C R1-Zero (drift: Z), no SFT, acc+format", None, False),
    "curation_only": Arm("curation_only", "curated SFT, acc+format", "curated", False),
    "reward_only": Arm("reward_only", "raw SFT + language reward", "raw", True),
    "r1_zero_language": Arm("r1_zero_language", "ZL R1-Zero + language reward, no SFT", None, True),
}


def has_code(text: str) -> bool:
    """Whether the reasoning (think block, else the whole text) contains code, as ``rewards.language_mix`` sees it.

    >>> has_code("<think>x = 3\\nprint(x)</think><answer>3</answer>"), has_code("<think>3 + 4 = 7</think>")
    (True, False)
    """
    reasoning = rewards.extract_think(text) or text
    return rewards.language_mix(reasoning).get("code", 0.0) > 0


def _english_shares(rec: dict, language: str) -> list[float | None]:
    """Each completion's :func:`rewards.english_share`: the record's own (``evaluate_examples`` measures it once),
    or measured here for records that lack it (hand-made ones, eval files of older versions)."""
    shares = rec.get("english_share")
    return shares if shares is not None else [rewards.english_share(t, language) for t in rec["completions"]]


def _sampled(rec: dict) -> slice:
    """Which completions of an eval record are the samples: all but the greedy first one, or the greedy one alone."""
    return slice(1, None) if len(rec["completions"]) > 1 else slice(0, 1)


def mixing_metrics(records: list[dict], language: str = "en") -> dict[str, Estimate]:
    """Accuracy, format and language metrics over the *sampled* completions of eval records.

    ``records`` are :func:`minirl.eval.evaluate_examples` records (greedy completion first, then the samples);
    with no samples the greedy completion is used. Each metric is a mean over problems of the per-problem rate,
    with a bootstrap interval over problems; ``greedy_accuracy`` is the greedy pass@1 and ``greedy_target_share``
    the greedy completions' share. ``english_share`` is :func:`rewards.english_share` (equal to ``target_share`` for
    ``language="en"``).

    ``mixed_rate`` here is the *per-problem sampled* mixed rate: per problem, the share of its sampled completions
    with words whose target-language share is below ``rewards.MIXED_BELOW``, then the mean over problems (each
    problem weighs the same, however many of its samples had words), on purpose, since a problem's samples are not
    independent. Same rule, other number than the evaluation's greedy ``mixed_rate``
    (:func:`minirl.eval.runner.summarize`) and the training log's pooled ``language/mixed_rate``
    (:func:`minirl.trainer.rewards.score_rollout`).

    >>> rec = {"completions": ["g", "<think>Add them.</think><answer>7</answer>", "<think>加起来</think>"],
    ...        "correct": [1.0, 1.0, 0.0], "format": [1.0, 1.0, 0.0], "target_share": [None, 1.0, 0.0]}
    >>> m = mixing_metrics([rec])
    >>> m["accuracy"].value, m["mixed_rate"].value, m["greedy_accuracy"].value
    (0.5, 0.5, 1.0)
    """
    if not records:
        raise ValueError("mixing_metrics: no eval records")
    per_problem: dict[str, list[float]] = {
        k: [] for k in ("accuracy", "format_rate", "mixed_rate", "target_share", "code_rate", "english_share")
    }
    for rec in records:
        sl = _sampled(rec)
        texts, correct, fmt = rec["completions"][sl], rec["correct"][sl], rec["format"][sl]
        shares = [s for s in rec["target_share"][sl] if s is not None]
        per_problem["accuracy"].append(sum(correct) / len(correct))
        per_problem["format_rate"].append(sum(v == 1.0 for v in fmt) / len(fmt))
        per_problem["code_rate"].append(sum(has_code(t) for t in texts) / len(texts))
        if shares:  # completions with no words say nothing about language
            per_problem["mixed_rate"].append(sum(s < rewards.MIXED_BELOW for s in shares) / len(shares))
            per_problem["target_share"].append(sum(shares) / len(shares))
        english = [e for e in _english_shares(rec, language)[sl] if e is not None]
        if english:
            per_problem["english_share"].append(sum(english) / len(english))
    out = {k: mean_estimate(v) if v else Estimate(0.0, 0.0, 1.0, 0) for k, v in per_problem.items()}
    out["greedy_accuracy"] = mean_estimate([float(rec["correct"][0]) for rec in records])
    greedy_shares = [rec["target_share"][0] for rec in records if rec["target_share"][0] is not None]
    out["greedy_target_share"] = mean_estimate(greedy_shares) if greedy_shares else Estimate(0.0, 0.0, 1.0, 0)
    return out


def accuracy_by_mode(records: list[dict], language: str = "en") -> dict[str, dict[str, float | int | None]]:
    """Accuracy of the sampled completions by reasoning mode: ``target`` language or ``mixed`` (does mixing pay?).

    Pooled over samples (``n`` completions of a mode, ``accuracy`` their share right, ``None`` when ``n`` is 0);
    completions with no words are left out. For a target other than English, ``english`` counts the mixed
    completions whose reasoning is mostly English (:func:`rewards.english_share` >= 0.5) and ``no_words`` those whose
    reasoning has no word (equations only). ``records`` are as for :func:`mixing_metrics`. The modes may be
    sampled on different problems, so compare them on a task whose problems are alike.

    >>> rec = {"completions": ["g", "a", "b", "c"], "correct": [1.0, 1.0, 0.0, 1.0], "target_share": [1.0, 1.0, 1.0, 0.2]}
    >>> accuracy_by_mode([rec])
    {'target': {'n': 2, 'accuracy': 0.5}, 'mixed': {'n': 1, 'accuracy': 1.0}}
    """
    modes = ("target", "mixed") + (("english", "no_words") if language != "en" else ())
    counts = {mode: [0, 0.0] for mode in modes}
    for rec in records:
        sl = _sampled(rec)
        english = _english_shares(rec, language)[sl] if language != "en" else [None] * len(rec["correct"][sl])
        for share, en, correct in zip(rec["target_share"][sl], english, rec["correct"][sl]):
            found = ["no_words"] if share is None else ["mixed" if share < rewards.MIXED_BELOW else "target"]
            if share is not None and (en or 0.0) >= 0.5:
                found.append("english")
            for mode in found:
                if mode in counts:
                    counts[mode][0] += 1
                    counts[mode][1] += correct
    return {k: {"n": n, "accuracy": right / n if n else None} for k, (n, right) in counts.items()}


def arm_config(cfg: LanguageMixingConfig, arm: Arm, model: str | None, out_dir: Path) -> TrainConfig:
    """The GRPO config of one arm: the shared sections, its start model, rewards and run directory."""
    train = cfg.train_config()
    if model is not None:
        train.model.name = model
    elif cfg.mixing.r1_zero_one_shot:
        train.data.one_shot = True
    weights = dict(train.grpo.rewards) if train.grpo.rewards else None
    if weights is None:
        weights = dict(get_task(train.data.task, **train.data.task_args).default_rewards)
    weights.pop("language_consistency", None)
    if arm.language_reward:
        weights["language_consistency"] = cfg.mixing.language_reward
    train.grpo.rewards = weights
    train.run.output_dir = str(out_dir / arm.name)
    train.run.run_name = arm.label
    train.eval.at_start = train.eval.at_end = False  # measured by the comparison, with samples
    return train


def _measure(cfg: LanguageMixingConfig) -> Callable[[EvalContext], dict[str, Any]]:
    """``measure(ctx)``: the arm's policy (``ctx.policy`` with ``ctx.tokenizer``) on the shared held-out problems of
    ``ctx.task``, in the arm's own prompt style (``ctx.style``); a ``ctx.step`` above 0 is after RL."""

    def measure(ctx: EvalContext) -> dict[str, Any]:
        examples = ctx.task.examples("test", n=cfg.mixing.eval_size, seed=cfg.run.seed)
        result = evaluate_examples(
            ctx.policy,
            ctx.tokenizer,
            ctx.task,
            examples,
            ctx.style,
            k=cfg.mixing.eval_k,
            temperature=cfg.rollout.temperature,
            max_new_tokens=cfg.rollout.max_new_tokens,
            language=cfg.data.language,
            seed=cfg.run.seed,
            desc=f"held-out ({'after' if ctx.step > 0 else 'before'} RL)",
        )
        metrics = mixing_metrics(result.records, cfg.data.language)
        return {"metrics": {k: v.to_dict() for k, v in metrics.items()}, "records": result.records}

    return measure


def _training_mix(run_dir: Path, window: int = 5) -> dict[str, float | None]:
    """Mean training-sample mixed rate over the first and last ``window`` steps (does RL grow the mixing?)."""
    rows = read_metrics(run_dir / "metrics.jsonl")
    vals = [  # None (or NaN in logs of older versions): no sample of that step had a word to judge
        r["language/mixed_rate"]
        for r in rows
        if r.get("type", "train") == "train"
        and isinstance(r.get("language/mixed_rate"), (int, float))
        and math.isfinite(r["language/mixed_rate"])
    ]

    def mean(xs: list[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    return {"first_steps": mean(vals[:window]), "last_steps": mean(vals[-window:]), "window": window}


def run_arm(
    cfg: LanguageMixingConfig, arm: Arm, out_dir: Path, before_cache: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Cold start (if any), GRPO, and the before/after measurements of one arm; writes ``<arm>/arm.json``.

    Arms with no cold start all start from the same model, prompts and seed: with ``before_cache`` (a dict kept
    across arms) the first one's before-RL measurement is reused by the others instead of measured again.
    """
    model = None
    if arm.cold_start is not None:
        sft_dir = out_dir / f"cold_start_{arm.cold_start}"
        model = str(
            cold_start_sft(cfg.cold_start, cfg.train_config(), sft_dir, curated=arm.cold_start == "curated")
        )
    train = arm_config(cfg, arm, model, out_dir)
    measure = _measure(cfg)

    def evaluate(ctx: EvalContext) -> dict[str, Any]:
        if ctx.step > 0 or arm.cold_start is not None or before_cache is None:  # after RL, or its own start
            return measure(ctx)
        if "base" not in before_cache:
            before_cache["base"] = measure(ctx)
        else:
            print(
                "[minirl] before RL: the base model's measurement of an earlier arm (same model, prompts, seed)"
            )
        return before_cache["base"]

    trainer, before, after = run_grpo(train, evaluate=evaluate)
    run_dir = Path(train.run.output_dir)
    summary = {
        "arm": arm.name,
        "label": arm.label,
        "cold_start": arm.cold_start,
        "language_reward": arm.language_reward,
        "rewards": train.grpo.rewards,
        "before_rl": before["metrics"],
        "after_rl": after["metrics"],
        "training_mixed_rate": _training_mix(run_dir),
        "accuracy_by_mode": {
            "before_rl": accuracy_by_mode(before["records"], cfg.data.language),
            "after_rl": accuracy_by_mode(after["records"], cfg.data.language),
        },
    }
    (run_dir / "arm.json").write_text(json.dumps(summary, indent=2))
    with open(run_dir / "eval_samples.jsonl", "w") as f:
        for when, result in (("before_rl", before), ("after_rl", after)):
            for rec in result["records"]:
                f.write(json.dumps({"when": when, **rec}, ensure_ascii=False) + "\n")
    del trainer
    gc.collect()
    return summary


SHORT_NAMES = {"r1_zero": "Z", "r1_zero_language": "ZL"}
"""The natural-drift comparison's names of its arms (``summary.json``'s ``arm``; ``arm_name`` keeps the long one)."""


def run_rows(summaries: list[dict[str, Any]], cfg: LanguageMixingConfig) -> list[dict[str, Any]]:
    """One flat row per arm (``summary.json``): the held-out language and accuracy numbers before and after RL.

    Shares, the mixed rate and ``accuracy`` are over the sampled completions (at the training temperature),
    means over problems; ``*_low``/``*_high`` are their 95% intervals; ``greedy_*`` are the greedy completions.
    ``minutes`` is the arm's wall time (its cold start included; a before-RL measurement reused from an earlier
    arm is not).
    """
    rows = []
    for s in summaries:
        row: dict[str, Any] = {"arm": SHORT_NAMES.get(s["arm"], s["arm"]), "arm_name": s["arm"]}
        row.update({"seed": cfg.run.seed, "language": cfg.data.language})
        for key in (
            "target_share",
            "mixed_rate",
            "english_share",
            "accuracy",
            "greedy_accuracy",
            "greedy_target_share",
        ):
            for when, part in (("before", "before_rl"), ("after", "after_rl")):
                est = s[part].get(key) or {}
                row[f"{key}_{when}"] = est.get("value")
                row[f"{key}_{when}_low"], row[f"{key}_{when}_high"] = est.get("low"), est.get("high")
        row["accuracy_by_mode_after"] = s.get("accuracy_by_mode", {}).get("after_rl")
        row["minutes"] = round(s.get("wall_s", 0.0) / 60, 1)
        rows.append(row)
    return rows


def _fmt(est: dict[str, Any]) -> str:
    if not est or est.get("n", 0) == 0 or est.get("value") is None:
        return "-"
    return f"{est['value']:.2f} [{est['low']:.2f}, {est['high']:.2f}]"


def comparison_table(summaries: list[dict[str, Any]]) -> str:
    """A markdown table of the arms after RL, with the mixed-language rate before RL for comparison.

    >>> e = {"value": 0.5, "low": 0.4, "high": 0.6, "n": 32}
    >>> m = dict.fromkeys(["accuracy", "greedy_accuracy", "format_rate", "mixed_rate", "target_share", "code_rate"], e)
    >>> print(comparison_table([{"label": "A", "before_rl": m, "after_rl": m}]).splitlines()[2])
    | A | 0.50 [0.40, 0.60] | 0.50 [0.40, 0.60] | 0.50 [0.40, 0.60] | 0.50 [0.40, 0.60] | 0.50 [0.40, 0.60] | 0.50 [0.40, 0.60] | 0.50 [0.40, 0.60] |
    """
    head = (
        "| arm | accuracy (sampled) | greedy accuracy | format rate | mixed-language rate after SFT, before RL "
        "| mixed-language rate after RL | target-language share | code-in-reasoning rate |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        a, b = s["after_rl"], s["before_rl"]
        cells = [a["accuracy"], a["greedy_accuracy"], a["format_rate"], b["mixed_rate"], a["mixed_rate"]]
        cells += [a["target_share"], a["code_rate"]]
        lines.append(f"| {s['label']} | " + " | ".join(_fmt(c) for c in cells) + " |")
    return "\n".join(lines)


def mode_table(summaries: list[dict[str, Any]]) -> str:
    """A markdown table of :func:`accuracy_by_mode` before and after RL per arm: ``accuracy (n)`` per mode.

    >>> m = {"target": {"n": 10, "accuracy": 0.5}, "mixed": {"n": 0, "accuracy": None}}
    >>> print(mode_table([{"label": "A", "accuracy_by_mode": {"before_rl": m, "after_rl": m}}]).splitlines()[2])
    | A | 0.50 (10) | - (0) | 0.50 (10) | - (0) |
    """
    modes = ["target", "mixed"]
    for extra in ("english", "no_words"):
        if any(extra in s.get("accuracy_by_mode", {}).get("after_rl", {}) for s in summaries):
            modes.append(extra)
    names = {
        "target": "target language",
        "mixed": "mixed",
        "english": "mostly English",
        "no_words": "no words",
    }
    head = [f"{names[m]}, {when} RL" for when in ("before", "after") for m in modes]
    lines = ["| arm | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for s in summaries:
        by_mode = s.get("accuracy_by_mode")
        if not by_mode:
            continue
        cells = []
        for when in ("before_rl", "after_rl"):
            for mode in modes:
                m = by_mode[when].get(mode, {"n": 0, "accuracy": None})
                acc = "-" if m["accuracy"] is None else f"{m['accuracy']:.2f}"
                cells.append(f"{acc} ({m['n']})")
        lines.append(f"| {s['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


PLOT_METRICS = [
    "language/mixed_rate",
    "language/target_share",
    "rewards/",
    "accuracy",
    "format_rate",
    "completion_length/mean",
]


def run_comparison(cfg: LanguageMixingConfig) -> list[dict[str, Any]]:
    """Run every arm of ``cfg.mixing.arms`` in order and write ``comparison.md``/``.json`` and overlaid curves.

    Output directory: ``cfg.run.output_dir`` with one sub-directory per arm and per cold start.
    """
    out = Path(cfg.run.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.yaml")
    summaries: list[dict[str, Any]] = []
    start = time.perf_counter()
    before_cache: dict[str, Any] = {}
    for name in cfg.mixing.arms:
        t0 = time.perf_counter()
        print(f"[minirl] === arm {name}: {ARMS[name].label} ===")
        summary = run_arm(cfg, ARMS[name], out, before_cache)
        summary["wall_s"] = round(time.perf_counter() - t0, 1)
        summaries.append(summary)
        # partial results survive a crash
        (out / "comparison.json").write_text(json.dumps(summaries, indent=2))
        (out / "summary.json").write_text(json.dumps(run_rows(summaries, cfg), indent=2))
    table = comparison_table(summaries)
    total = time.perf_counter() - start
    modes = (
        "Accuracy of the sampled held-out completions by reasoning mode (pooled over samples, count in brackets; "
        f"mixed = under {rewards.MIXED_BELOW:.0%} target-language words):\n\n{mode_table(summaries)}"
    )
    natural = all(ARMS[name].cold_start is None for name in cfg.mixing.arms)
    title = f"Language drift under RL, prompt in {cfg.data.language!r}" if natural else "curated vs uncurated"
    (out / "comparison.md").write_text(
        f"# Language mixing: {title}\n\n{table}\n\n{modes}\n\nWall time: {total / 60:.1f} min.\n"
    )
    plot_runs([out / s["arm"] for s in summaries], out / "plots", metrics=PLOT_METRICS)
    print(table)
    print(f"[minirl] comparison: {out / 'comparison.md'} ({total / 60:.1f} min)")
    return summaries
