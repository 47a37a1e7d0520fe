"""Collect the reasoning recipe's seeds into ``docs/results/reasoning/summary.json`` (docs/reasoning.md).

    python benchmarks/reasoning_summary.py --runs '[runs/reasoning_s42, runs/reasoning_s1, runs/reasoning_s2]' \
        --main_job runs/main_job --out docs/results/reasoning/summary.json

Each run directory is one seed of ``recipes/configs/r1_zero_reasoning_smollm2_cpu.yaml``, run under
``/usr/bin/time -v`` with its report in ``<run>/time.txt`` (the wall time and peak memory of the whole command).
``--main_job`` is a run directory of the main job (``recipes/r1_zero.py``) whose ``eval/longer_<seed>/`` holds
``python -m minirl.eval`` on the same longer problems as that seed (the transfer task of ``--longer``); with
``--main_eval longer_fixed``, ``eval/longer_fixed_<seed>/`` instead.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from minirl.cli import run_main
from minirl.config_checks import _check
from minirl.config_parse import parse_fields
from minirl.files import read_metrics


def _wall_and_peak(time_file: Path) -> tuple[float | None, float | None]:
    """Minutes of wall time and peak resident GiB from a ``/usr/bin/time -v`` report (None where absent)."""
    if not time_file.exists():
        return None, None
    text = time_file.read_text()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    minutes = None
    if wall:
        parts = [float(p) for p in wall.group(1).split(":")]
        seconds = sum(p * 60**i for i, p in enumerate(reversed(parts)))
        minutes = round(seconds / 60, 2)
    return minutes, (round(int(peak.group(1)) / 2**20, 2) if peak else None)


def _eval_record(rows: list[dict], run: Path, when: str) -> dict:
    """The last ``when`` (start or end) evaluation among a run's ``metrics.jsonl`` rows."""
    records = [r for r in rows if r.get("type") == "eval" and r.get("when") == when]
    if not records:
        raise SystemExit(f"error: {run}/metrics.jsonl has no '{when}' evaluation: did the run finish?")
    return records[-1]


def by_terms(problems: Path) -> dict[str, dict[str, float]]:
    """Greedy length and accuracy per number of terms of the question, from an evaluation's ``problems.jsonl``
    (``{"4": {"length": .., "accuracy": .., "n": ..}}``): does the model think longer on longer problems?"""
    groups: dict[str, list[dict]] = {}
    for line in problems.read_text().splitlines():
        row = json.loads(line)
        terms = str(len(re.findall(r"\d+", row["question"])))
        groups.setdefault(terms, []).append(row)
    return {
        terms: {
            "length": sum(r["lengths"][0] for r in rows) / len(rows),
            "accuracy": sum(bool(r["correct"][0]) for r in rows) / len(rows),
            "n": len(rows),
        }
        for terms, rows in sorted(groups.items())
    }


def seed_summary(run: Path, main_job: Path, longer: str, main_eval: str = "longer") -> dict:
    """One entry of ``summary.json``: the issue's fields, then the ways of reasoning and every transfer task."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    seed = cfg["run"]["seed"]
    rows = read_metrics(
        run / "metrics.jsonl"
    )  # read once: the evaluations and the per-step memory come from it
    start, end = _eval_record(rows, run, "start"), _eval_record(rows, run, "end")
    main_file = main_job / "eval" / f"{main_eval}_{seed}" / "summary.json"  # absent: not evaluated yet
    main = json.loads(main_file.read_text())["metrics"]["pass@1"] if main_file.exists() else {}
    main = {"value": main.get("value"), "high": main.get("high")}
    minutes, peak = _wall_and_peak(run / "time.txt")
    # The larger of /usr/bin/time's and the trainer's: before 737d089 the trainer reset VmHWM, hiding early phases
    trained = [r["memory/peak_gib"] for r in rows if "memory/peak_gib" in r]
    peak = round(max([peak or 0.0, *trained]), 2)
    entry = {
        "seed": seed,
        "length_start": start["eval/completion_length"],
        "length_end": end["eval/completion_length"],
        **{
            f"greedy_{w}{e}": r[f"eval/pass@1{e}"]
            for w, r in (("start", start), ("end", end))
            for e in ("", "_low", "_high")
        },
        "format_end": end["eval/format_rate"],
        "ablation_drop": end["no_reasoning/drop"],
        "longer_task": longer,
        "longer_greedy_end": end[f"transfer/{longer}/pass@1"],
        "longer_greedy_end_low": end[f"transfer/{longer}/pass@1_low"],
        "longer_greedy_end_high": end[f"transfer/{longer}/pass@1_high"],
        "main_job_longer_greedy": main["value"],
        "main_job_longer_greedy_high": main["high"],
        "minutes": minutes,
        "peak_gib": peak,
    }
    for w, r in (("start", start), ("end", end)):
        entry[f"sampled_{w}"] = r.get("eval/pass@1_sampled")  # absent with eval.k 1 (greedy only)
        entry[f"no_reasoning_{w}"] = r["no_reasoning/pass@1"]
        for way in ("direct", "stepwise", "none"):
            entry[f"share_{way}_{w}"] = r.get(f"eval/ways/{way}")
            entry[f"share_sampled_{way}_{w}"] = r.get(f"eval/ways_sampled/{way}")
            if w == "start":
                entry[f"accuracy_{way}_start"] = r.get(f"eval/ways/{way}/pass@1")
                entry[f"accuracy_sampled_{way}_start"] = r.get(f"eval/ways_sampled/{way}/pass@1")
    entry["by_terms_start"] = by_terms(run / "eval" / "start" / "problems.jsonl")
    entry["by_terms_end"] = by_terms(run / "eval" / "problems.jsonl")
    entry["by_terms_longer_end"] = by_terms(run / "eval" / "transfer" / longer / "problems.jsonl")
    names = sorted({k.split("/")[1] for k in end if k.startswith("transfer/")})
    entry["transfer"] = {
        name: {
            f"{w}{e}": r[f"transfer/{name}/pass@1{e}"]
            for w, r in (("start", start), ("end", end))
            for e in ("", "_low", "_high")
        }
        for name in names
    }
    return entry


def markdown_table(runs: list[dict], longer: str) -> str:
    """The per-seed table of docs/reasoning.md (values with their 95% intervals where the summary has them)."""

    def iv(r, key):
        low, high = r.get(f"{key}_low"), r.get(f"{key}_high")
        return f"{r[key]:.3f}" + ("" if low is None else f" [{low:.3f}, {high:.3f}]")

    rows = [
        ("greedy pass@1, start", lambda r: iv(r, "greedy_start")),
        ("greedy pass@1, end", lambda r: iv(r, "greedy_end")),
        (
            "sampled pass@1 (eval.k samples at eval.temperature), start -> end",
            lambda r: f"{r['sampled_start']:.3f} -> {r['sampled_end']:.3f}",
        ),
        ("greedy format rate, end", lambda r: f"{r['format_end']:.3f}"),
        (
            "greedy length (tokens), start -> end",
            lambda r: (
                f"{r['length_start']:.1f} -> {r['length_end']:.1f} "
                f"({r['length_end'] / r['length_start']:.2f}x)"
            ),
        ),
        (
            "stepwise share, greedy, start -> end",
            lambda r: f"{r['share_stepwise_start']:.3f} -> {r['share_stepwise_end']:.3f}",
        ),
        (
            "stepwise share, sampled, start -> end",
            lambda r: f"{r['share_sampled_stepwise_start']:.3f} -> {r['share_sampled_stepwise_end']:.3f}",
        ),
        (
            "accuracy at start, greedy: stepwise / direct",
            lambda r: f"{r['accuracy_stepwise_start'] or 0:.3f} / {r['accuracy_direct_start'] or 0:.3f}",
        ),
        (
            "accuracy at start, sampled: stepwise / direct",
            lambda r: (
                f"{r['accuracy_sampled_stepwise_start'] or 0:.3f} / {r['accuracy_sampled_direct_start'] or 0:.3f}"
            ),
        ),
        (
            "reasoning removed, start -> end",
            lambda r: f"{r['no_reasoning_start']:.3f} -> {r['no_reasoning_end']:.3f}",
        ),
        ("ablation drop at the end (with - without)", lambda r: f"{r['ablation_drop']:.3f}"),
        (f"{longer}, trained model", lambda r: iv(r, "longer_greedy_end")),
        (
            f"{longer}, main-job model (same problems)",
            lambda r: (
                "-"
                if r["main_job_longer_greedy"] is None
                else f"{r['main_job_longer_greedy']:.3f} [.., {r['main_job_longer_greedy_high']:.3f}]"
            ),
        ),
        (
            "greedy length by number of terms, start -> end",
            lambda r: (
                ", ".join(
                    f"{t}: {r['by_terms_start'][t]['length']:.0f} -> {r['by_terms_end'][t]['length']:.0f}"
                    for t in r["by_terms_end"]
                    if t in r["by_terms_start"]
                )
                + "".join(f", {t} (longer): {v['length']:.0f}" for t, v in r["by_terms_longer_end"].items())
            ),
        ),
        ("wall time (min), peak RSS (GiB)", lambda r: f"{r['minutes']}, {r['peak_gib']}"),
    ]
    if any(r["sampled_start"] is None for r in runs):  # eval.k 1: greedy only, no sampled rows
        rows = [row for row in rows if "sampled" not in row[0]]
    head = "| held-out (300 problems) | " + " | ".join(f"seed {r['seed']}" for r in runs) + " |"
    lines = [head, "| --- |" + " --- |" * len(runs)]
    lines += [f"| {name} | " + " | ".join(cell(r) for r in runs) + " |" for name, cell in rows]
    names = sorted({n for r in runs for n in r["transfer"]})
    lines += [
        "",
        "| not trained on (greedy, start -> end) | " + " | ".join(f"seed {r['seed']}" for r in runs) + " |",
        "| --- |" + " --- |" * len(runs),
    ]
    for n in names:
        cells = []
        for r in runs:
            t = r["transfer"][n]
            cells.append(
                f"{t['start']:.3f} [{t['start_low']:.3f}, {t['start_high']:.3f}] -> "
                f"{t['end']:.3f} [{t['end_low']:.3f}, {t['end_high']:.3f}]"
            )
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(runs: list[Path], path: Path) -> None:
    """Training accuracy, completion length and the share of each way of reasoning per step, one line per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("accuracy", "training accuracy"),
        ("completion_length/mean", "completion length (tokens)"),
        ("ways/stepwise", "share of stepwise completions"),
        ("ways/stepwise/accuracy", "accuracy of stepwise completions"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4))
    for run in runs:
        rows = [r for r in read_metrics(run / "metrics.jsonl") if r.get("type") == "train"]
        seed = yaml.safe_load((run / "config.yaml").read_text())["run"]["seed"]
        for ax, (key, label) in zip(axes, panels):
            points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
            ax.plot(*zip(*points), marker=".", label=f"seed {seed}")
            ax.set_title(label, fontsize=10)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("r1_zero_reasoning_smollm2_cpu: training samples (8 prompts x 8 per step)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


@dataclass
class SummaryArgs:
    """Collect the reasoning recipe's seeds into docs/results/reasoning/summary.json (docs/reasoning.md)."""

    runs: list[str]
    """The seeds' run directories, a YAML list, e.g. ``[runs/reasoning_s42, runs/reasoning_s1]``."""
    main_job: str
    """A run directory of the main job, whose ``eval/<main_eval>_<seed>/`` are its evaluations on the longer
    problems."""
    longer: str = "sum5_1digit"
    """The transfer task longer than any trained on."""
    main_eval: str = "longer"
    """The main job's evaluations are ``eval/<this>_<seed>/`` in ``main_job``."""
    out: str = "docs/results/reasoning/summary.json"
    """Where the summary goes (``curves.png`` beside it)."""

    def __post_init__(self):
        _check(len(self.runs) >= 1, "runs must list at least one run directory")


def main(argv: list[str] | None = None) -> int:
    """Parse the options (as ``python -m minirl.eval``: a mistake is one ``error:`` line, exit 2) and summarize."""
    run_main(summarize, sys.argv[1:] if argv is None else argv)
    return 0


def summarize(argv: list[str]) -> None:
    """Write the summary JSON and the curves, and print the table."""
    args = parse_fields(SummaryArgs, argv)
    run_dirs, out = [Path(r) for r in args.runs], Path(args.out)
    runs = [seed_summary(run, Path(args.main_job), args.longer, args.main_eval) for run in run_dirs]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    plot_curves(run_dirs, out.with_name("curves.png"))
    print(markdown_table(runs, args.longer))
    for r in runs:
        print(
            f"seed {r['seed']}: length {r['length_start']:.1f} -> {r['length_end']:.1f} "
            f"({r['length_end'] / r['length_start']:.2f}x), greedy {r['greedy_start']:.3f} -> {r['greedy_end']:.3f}, "
            f"drop {r['ablation_drop']:.3f}, {args.longer} {r['longer_greedy_end']:.3f} vs main job "
            f"{r['main_job_longer_greedy']}, {r['minutes']} min, {r['peak_gib']} GiB"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    raise SystemExit(main())
