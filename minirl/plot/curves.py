"""Training curves from one or several runs' ``metrics.jsonl``, as PNG files.

Each line of ``metrics.jsonl`` is a JSON object with a ``"step"`` and numeric metrics, and optionally a
``"type"``: ``"train"`` (the default when absent) or ``"eval"``. Metrics of a non-train row are namespaced by
their type, so an eval row's ``accuracy`` becomes ``eval/accuracy`` (keys already prefixed stay as they are)
and never mixes with the train curve of the same name. Non-numeric values (strings, lists, ``null``) are
ignored; NaN and infinities become gaps.

Reading rules (:func:`minirl.files.read_metrics`, the one reader of run logs), chosen so a live or interrupted
run can still be plotted:

- blank lines are skipped;
- a bad *last* line is skipped with a warning: the trainer may be writing it, or was killed mid-write;
- any other bad line raises ``ValueError`` naming the file and line number, because silently dropping data
  from the middle of a run would draw a misleading curve;
- if a step appears twice (a run resumed from a checkpoint re-logs steps), the later line wins.

Output: one figure per metric group (total reward, each named reward, accuracy, format rate, completion
length, KL, entropy, clip fractions, language mix, zero-variance groups, optimizer, throughput, eval, and
``other`` for unknown keys), each with one panel per metric and the runs overlaid, plus ``curves.png``, a
grid of the key panels. Groups with no data are skipped. Smoothing is an exponential moving average
(TensorBoard-style, seeded with the first value rather than bias-corrected), drawn over the faint raw line;
eval curves are never smoothed since they have few, already-averaged points.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from matplotlib.figure import Figure  # Figure without pyplot: no global state, no display backend needed

from minirl.files import read_metrics

__all__ = ["Run", "ema", "load_run", "plot_runs", "read_metrics"]

METRICS_FILE = "metrics.jsonl"

# (file stem, title, selectors). A selector is an exact key or, ending in "/", a key prefix.
# Per-reward groups ("rewards/<name>/...") are built on the fly and go right after "reward".
_GROUPS: list[tuple[str, str, list[str]]] = [
    ("reward", "Total reward", ["reward"]),
    ("accuracy", "Accuracy", ["accuracy"]),
    ("format_rate", "Format rate", ["format_rate"]),
    ("completion_length", "Completion length", ["completion_length/", "truncated_rate"]),
    ("kl", "KL to the reference policy", ["kl"]),
    ("entropy", "Token entropy", ["entropy"]),
    ("clip_fraction", "Clip fraction", ["clip_ratio/"]),
    ("language", "Language mix", ["language/"]),
    ("zero_variance", "Groups with zero reward variance", ["zero_variance_frac"]),
    ("optimizer", "Optimizer", ["grad_norm", "lr"]),
    ("throughput", "Throughput", ["step_time", "tokens_per_s"]),
    ("eval", "Evaluation", ["eval/"]),
]
# Panels of the summary figure curves.png, in order, when present.
SUMMARY_KEYS = [
    "reward",
    "accuracy",
    "format_rate",
    "completion_length/mean",
    "kl",
    "entropy",
    "clip_ratio/region",
    "language/target_share",
    "eval/accuracy",
    "eval/pass@1_sampled",
]
_MAX_SUMMARY_PANELS = 12


@dataclass
class Run:
    """One run's curves: ``series[key] = (steps, values)`` sorted by step."""

    label: str
    path: Path
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    sparse_keys: set[str] = field(
        default_factory=set
    )  # keys from non-train rows: not smoothed, drawn with markers


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _run_label(run_dir: Path) -> str:
    """``run.run_name`` (or a top-level ``run_name``) from config.yaml/config.json, else the directory name."""
    for name in ("config.yaml", "config.yml", "config.json"):
        config_path = run_dir / name
        if not config_path.is_file():
            continue
        try:
            text = config_path.read_text(encoding="utf-8")
            config = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as err:
            # The config only gives the label: a broken one must not stop the plots.
            warnings.warn(
                f"{config_path}: cannot read it ({err}); labelling the run by its directory", stacklevel=3
            )
            continue
        if not isinstance(config, dict):
            continue
        # The trainer's config.yaml nests it as run.run_name; a hand-written one may have it at the top.
        section = config.get("run")
        for value in (section.get("run_name") if isinstance(section, dict) else None, config.get("run_name")):
            if isinstance(value, str) and value.strip():
                return value.strip()
    return run_dir.resolve().name


def load_run(run_dir: Path) -> Run:
    """Read ``run_dir/metrics.jsonl`` (or a ``.jsonl`` file given directly) into a :class:`Run`."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        metrics_path, run_dir = run_dir, run_dir.parent
    else:
        if not run_dir.is_dir():
            raise FileNotFoundError(f"run directory {run_dir} does not exist")
        metrics_path = run_dir / METRICS_FILE
        if not metrics_path.is_file():
            raise FileNotFoundError(
                f"{run_dir} has no {METRICS_FILE}: pass a run directory written by the trainer "
                f"(its output dir), or the path of a metrics .jsonl file"
            )
    points: dict[str, dict[float, float]] = {}
    sparse: set[str] = set()
    for row in read_metrics(metrics_path):
        kind = row.get("type", "train")
        for key, value in row.items():
            if key in ("step", "type") or not _is_number(value):
                continue
            if kind != "train" and not key.startswith(kind + "/"):
                key = f"{kind}/{key}"
            if kind != "train":
                sparse.add(key)
            value = float(value)
            # Later lines overwrite earlier ones at the same step: a resumed run re-logs steps.
            points.setdefault(key, {})[row["step"]] = value if math.isfinite(value) else math.nan
    series = {
        key: (sorted(by_step), [by_step[s] for s in sorted(by_step)]) for key, by_step in points.items()
    }
    return Run(label=_run_label(run_dir), path=metrics_path, series=series, sparse_keys=sparse)


def ema(values: Sequence[float], smooth: float) -> list[float]:
    """Exponential moving average ``s_t = smooth * s_{t-1} + (1 - smooth) * x_t``, seeded with the first value.

    ``smooth`` in [0, 1): 0 returns the values unchanged. NaN gaps stay gaps and do not reset the average.

    >>> ema([0.0, 1.0, 1.0], 0.5)
    [0.0, 0.5, 0.75]
    """
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smooth must be in [0, 1), got {smooth!r}")
    out: list[float] = []
    state: float | None = None
    for v in values:
        if math.isnan(v):
            out.append(math.nan)
            continue
        state = v if state is None else smooth * state + (1.0 - smooth) * v
        out.append(state)
    return out


def _matches(key: str, selector: str) -> bool:
    return key.startswith(selector) if selector.endswith("/") else key == selector


def _groups(keys: set[str]) -> list[tuple[str, str, list[str]]]:
    """Split the available keys into (file stem, title, keys) groups, in display order; empty groups dropped."""
    left = set(keys)
    out: list[tuple[str, str, list[str]]] = []

    def take(selectors: list[str]) -> list[str]:
        picked: list[str] = []
        for sel in selectors:
            hits = sorted(k for k in left if _matches(k, sel))
            picked += hits
            left.difference_update(hits)
        return picked

    for stem, title, selectors in _GROUPS:
        if picked := take(selectors):
            out.append((stem, title, picked))
        if stem == "reward":
            # One figure per named reward, e.g. rewards/accuracy_reward/{mean,std}.
            names = sorted({k[len("rewards/") :].rsplit("/", 1)[0] for k in left if k.startswith("rewards/")})
            for name in names:
                picked = take([f"rewards/{name}", f"rewards/{name}/"])
                if not picked:  # already taken by a shorter name, e.g. "a" took "rewards/a/b/mean"
                    continue
                safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
                out.append((f"reward_{safe}", f"Reward: {name}", picked))
    if left:
        out.append(("other", "Other metrics", sorted(left)))
    return out


def _draw(fig: Figure, title: str, keys: list[str], runs: list[Run], smooth: float) -> None:
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    handles: dict[str, object] = {}
    for ax, key in zip(axes, keys):
        for i, run in enumerate(runs):
            if key not in run.series:
                continue
            steps, values = run.series[key]
            color = f"C{i % 10}"  # same color for a run in every panel
            marker = "o" if len(steps) <= 30 else None
            if smooth > 0 and key not in run.sparse_keys:
                ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
                (line,) = ax.plot(steps, ema(values, smooth), color=color, linewidth=1.6)
            else:
                (line,) = ax.plot(steps, values, color=color, linewidth=1.4, marker=marker, markersize=3)
            handles.setdefault(run.label, line)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    if handles:
        fig.legend(
            list(handles.values()), list(handles), loc="outside lower center", ncols=min(4, len(handles))
        )


def _save(path: Path, title: str, keys: list[str], runs: list[Run], smooth: float) -> Path:
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.0 * nrows + 0.8), layout="constrained")
    _draw(fig, title, keys, runs, smooth)
    fig.savefig(path, dpi=100)
    return path


def plot_runs(
    run_dirs: Sequence[Path], out_dir: Path, metrics: list[str] | None = None, smooth: float = 0.0
) -> list[Path]:
    """Write PNG curves for the given runs into ``out_dir`` and return the written paths.

    ``metrics`` restricts the plots to these keys (a key ending in ``/`` selects all keys with that prefix,
    e.g. ``"rewards/"``); ``smooth`` in [0, 1) is the EMA factor (0 = raw curves only). The first path is
    the summary grid ``curves.png``, then one ``<group>.png`` per metric group with data.
    Raises ``FileNotFoundError`` for a run without ``metrics.jsonl`` and ``ValueError`` for a bad line or
    when nothing is left to plot.
    """
    if not run_dirs:
        raise ValueError("plot_runs needs at least one run directory")
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smooth must be in [0, 1), got {smooth!r}")
    runs = [load_run(Path(d)) for d in run_dirs]
    _dedupe_labels(runs)
    for run in runs:
        if not run.series:
            warnings.warn(f"{run.path}: no numeric metrics, nothing to plot for this run", stacklevel=2)

    available = set().union(*(run.series for run in runs))
    if not available:
        raise ValueError(f"no numeric metrics in {', '.join(str(r.path) for r in runs)}: nothing to plot")
    keys = available
    if metrics:
        keys = {k for k in available if any(_matches(k, sel) for sel in metrics)}
        missing = [sel for sel in metrics if not any(_matches(k, sel) for k in available)]
        if missing:
            warnings.warn(f"no run has metric(s) {missing}; available: {sorted(available)}", stacklevel=2)
        if not keys:
            raise ValueError(
                f"none of the requested metrics {metrics} is in the runs; available: {sorted(available)}"
            )

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = _groups(keys)
    summary = [k for k in SUMMARY_KEYS if k in keys]
    if not summary:  # e.g. only custom metrics: show the first ones in display order
        summary = [k for _, _, group_keys in groups for k in group_keys][:_MAX_SUMMARY_PANELS]
    written = [_save(out_dir / "curves.png", "Training curves", summary, runs, smooth)]
    for stem, title, group_keys in groups:
        written.append(_save(out_dir / f"{stem}.png", title, group_keys, runs, smooth))
    return written


def _dedupe_labels(runs: list[Run]) -> None:
    # Two runs called "grpo" in different folders must stay distinguishable in the legend.
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.label] = seen.get(run.label, 0) + 1
    counter: dict[str, int] = {}
    for run in runs:
        if seen[run.label] > 1:
            counter[run.label] = counter.get(run.label, 0) + 1
            run.label = f"{run.label} ({counter[run.label]})"
