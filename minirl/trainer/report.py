"""``report.md`` at the end of a run: config summary, eval table with intervals, curves, samples before/after."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from minirl.files import read_jsonl, read_metrics
from minirl.plot.curves import plot_runs


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else "-" if v is None else str(v)


def _transfer_table(evals: list[dict]) -> list[str]:
    """Lines of the table of ``eval.transfer`` tasks (greedy pass@1 per evaluation), or none.

    >>> e = {"when": "start", "transfer/sub/pass@1": 0.5, "transfer/sub/pass@1_low": 0.4,
    ...      "transfer/sub/pass@1_high": 0.6, "transfer/sub/n_problems": 200.0}
    >>> _transfer_table([e])[-2]
    '| sub | 200 | 0.500 [0.400, 0.600] |'
    """
    rows = [e for e in evals if any(k.startswith("transfer/") for k in e)]
    names = sorted({k.split("/")[1] for e in rows for k in e if k.startswith("transfer/")})
    if not names:
        return []
    lines = [
        "## Tasks not trained on (greedy pass@1, 95% intervals)",
        "",
        "| task | problems | "
        + " | ".join(f"{e.get('when', '')} (step {e.get('step', '-')})" for e in rows)
        + " |",
        "| --- | --- | " + " | ".join("---" for _ in rows) + " |",
    ]
    for name in names:
        cells = []
        for e in rows:
            v, lo, hi = (e.get(f"transfer/{name}/pass@1{end}") for end in ("", "_low", "_high"))
            cells.append("-" if v is None else f"{v:.3f} [{lo:.3f}, {hi:.3f}]")
        n = next(
            (int(e[f"transfer/{name}/n_problems"]) for e in rows if f"transfer/{name}/n_problems" in e), 0
        )
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def write_report(run_dir: str | Path, say: Callable[[str], None] | None = None) -> Path:
    """Write ``<run_dir>/report.md`` (and the curves it shows) from what the run wrote; returns its path, which
    ``say`` (``accelerator.print`` in a run) is told.

    The logs are read by :mod:`minirl.files`' rules (a torn last line is skipped, any other bad line is an error
    naming it), as the curves read them.
    """

    run = Path(run_dir)
    cfg = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").exists() else {}
    rows = read_metrics(run / "metrics.jsonl") if (run / "metrics.jsonl").exists() else []
    train = [r for r in rows if r.get("type", "train") == "train"]
    evals = [r for r in rows if r.get("type") == "eval"]
    lines = [f"# Run report: {run.name}", ""]
    if cfg:
        m, d, ro, g, o, ru = (cfg.get(k, {}) for k in ("model", "data", "rollout", "grpo", "optim", "run"))
        lines += [
            "## Config",
            "",
            f"- model `{m.get('name')}` ({'LoRA r=' + str(m.get('lora_r')) if m.get('lora') else 'full'}), "
            f"task `{d.get('task')}` {d.get('task_args') or ''}",
            f"- G={ro.get('num_generations')} x {ro.get('prompts_per_step')} prompts/step, "
            f"max_new_tokens={ro.get('max_new_tokens')}, temperature={ro.get('temperature')}",
            f"- loss `{g.get('loss_type')}`, beta={g.get('beta')}, rewards {g.get('rewards')}, lr={o.get('lr')}, "
            f"steps={ru.get('max_steps')}, seed={ru.get('seed')}",
            "- full config: `config.yaml`",
            "",
        ]
    if train:
        last, first = train[-1], train[0]
        total_time = sum(r.get("step_time", 0.0) for r in train)
        lines += [
            "## Training",
            "",
            f"{len(train)} steps logged, {total_time / 60:.1f} min of steps "
            f"({total_time / max(len(train), 1):.1f} s/step).",
            "",
            "| metric | first step | last step | mean of last 10 |",
            "| --- | --- | --- | --- |",
        ]
        for key in (
            "reward",
            "accuracy",
            "format_rate",
            "completion_length/mean",
            "zero_variance_frac",
            "language/mixed_rate",
            "kl",
            "entropy",
        ):
            if key in last:
                tail = [r[key] for r in train[-10:] if isinstance(r.get(key), (int, float))]
                mean_tail = sum(tail) / len(tail) if tail else float("nan")
                lines.append(
                    f"| {key} | {_fmt(first.get(key))} | {_fmt(last.get(key))} | {_fmt(mean_tail)} |"
                )
        lines.append("")
    if evals:
        lines += [
            "## Held-out evaluation (95% intervals; sampled = the eval.k samples per problem)",
            "",
            "| when | step | pass@1 (greedy) | pass@1 (sampled) | pass@k | format rate (greedy) | mean length (greedy) "
            "| mixed-language rate | problems |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for e in evals:
            ks = sorted(
                int(k[len("eval/pass@") :])
                for k in e
                if k[len("eval/pass@") :].isdigit() and k != "eval/pass@1"
            )

            def iv(name, e=e):
                v, lo, hi = e.get(f"eval/{name}"), e.get(f"eval/{name}_low"), e.get(f"eval/{name}_high")
                if v is None:
                    return "-"
                return f"{v:.3f}" if lo is None or hi is None else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"

            lines.append(
                f"| {e.get('when', '')} | {e.get('step')} | {iv('pass@1')} | {iv('pass@1_sampled')} | "
                f"{'-' if not ks else f'k={ks[-1]}: ' + iv(f'pass@{ks[-1]}')} | {iv('format_rate')} | "
                f"{iv('completion_length')} | {iv('mixed_rate')} | {int(e.get('eval/n_problems', 0))} |"
            )
        lines.append("")
        lines += _transfer_table(evals)
    if train:
        plots = plot_runs([run], run / "plots", smooth=0.6 if len(train) >= 20 else 0.0)
        lines += [
            "## Curves",
            "",
            f"![curves](plots/{plots[0].name})",
            "",
            "Per-group figures: " + ", ".join(f"[{p.stem}](plots/{p.name})" for p in plots[1:]),
            "",
        ]
    samples = (
        [line.value for line in read_jsonl(run / "samples.jsonl")] if (run / "samples.jsonl").exists() else []
    )
    if samples:
        lines += ["## Samples, first and last logged step", ""]
        for s in (samples[0], samples[-1]):
            lines += [f"**step {s['step']}** — {s['question']} (gold {s['answer']})", ""]
            for text, reward in zip(s["completions"][:2], s["rewards"][:2]):
                lines += [f"reward {reward:.2f}:", "", "```text", text.strip()[:800], "```", ""]
    path = run / "report.md"
    path.write_text("\n".join(lines))
    if say is not None:
        say(f"[minirl] report: {path}")
    return path
