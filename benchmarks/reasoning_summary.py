"""Collect the reasoning recipe's seeds into ``docs/results/reasoning/summary.json`` (docs/reasoning.md).

    python benchmarks/reasoning_summary.py --runs runs/reasoning_s42 runs/reasoning_s1 runs/reasoning_s2 \
        --main-job runs/main_job --out docs/results/reasoning/summary.json

Each run directory is one seed of ``recipes/configs/r1_zero_reasoning_smollm2_cpu.yaml``, run under
``/usr/bin/time -v`` with its report in ``<run>/time.txt`` (the wall time and peak memory of the whole command).
``--main-job`` is a run directory of the main job (``recipes/r1_zero.py``) whose ``eval/longer_<seed>/`` holds
``python -m minirl.eval`` on the same longer problems as that seed (the transfer task of ``--longer``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import yaml

from minirl.plot import read_metrics


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


def _eval_record(run: Path, when: str) -> dict:
    records = [
        r for r in read_metrics(run / "metrics.jsonl") if r.get("type") == "eval" and r.get("when") == when
    ]
    if not records:
        raise SystemExit(f"error: {run}/metrics.jsonl has no '{when}' evaluation: did the run finish?")
    return records[-1]


def seed_summary(run: Path, main_job: Path, longer: str) -> dict:
    """One entry of ``summary.json``: the issue's fields, then the ways of reasoning and every transfer task."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    seed = cfg["run"]["seed"]
    start, end = _eval_record(run, "start"), _eval_record(run, "end")
    main = json.loads((main_job / "eval" / f"longer_{seed}" / "summary.json").read_text())["metrics"][
        "pass@1"
    ]
    minutes, peak = _wall_and_peak(run / "time.txt")
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
        "main_job_longer_greedy": main["value"],
        "main_job_longer_greedy_high": main["high"],
        "minutes": minutes,
        "peak_gib": peak,
    }
    for w, r in (("start", start), ("end", end)):
        entry[f"sampled_{w}"] = r["eval/pass@1_sampled"]
        entry[f"no_reasoning_{w}"] = r["no_reasoning/pass@1"]
        for way in ("direct", "stepwise", "none"):
            entry[f"share_{way}_{w}"] = r.get(f"eval/ways/{way}")
            entry[f"share_sampled_{way}_{w}"] = r.get(f"eval/ways_sampled/{way}")
            if w == "start":
                entry[f"accuracy_{way}_start"] = r.get(f"eval/ways/{way}/pass@1")
                entry[f"accuracy_sampled_{way}_start"] = r.get(f"eval/ways_sampled/{way}/pass@1")
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", type=Path, required=True)
    p.add_argument("--main-job", type=Path, required=True)
    p.add_argument("--longer", default="sum5_1digit", help="the transfer task longer than any trained on")
    p.add_argument("--out", type=Path, default=Path("docs/results/reasoning/summary.json"))
    args = p.parse_args(argv)
    runs = [seed_summary(run, args.main_job, args.longer) for run in args.runs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    for r in runs:
        print(
            f"seed {r['seed']}: length {r['length_start']:.1f} -> {r['length_end']:.1f} "
            f"({r['length_end'] / r['length_start']:.2f}x), greedy {r['greedy_start']:.3f} -> {r['greedy_end']:.3f}, "
            f"drop {r['ablation_drop']:.3f}, {args.longer} {r['longer_greedy_end']:.3f} vs main job "
            f"{r['main_job_longer_greedy']:.3f}, {r['minutes']} min, {r['peak_gib']} GiB"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
