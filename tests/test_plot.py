"""Tests for minirl.plot: reading metrics.jsonl, grouping, and the PNGs the CLI writes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from minirl.plot import ema, load_run, plot_runs, read_metrics
from minirl.plot.__main__ import main
from minirl.plot.curves import Run, _dedupe_labels, _groups
from minirl.testing import HANG_TIMEOUT_S

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_run(
    run_dir: Path, steps: int = 12, offset: float = 0.0, eval_every: int = 4, extra: str = ""
) -> Path:
    """A synthetic run folder with the metric keys the trainer writes."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for step in range(1, steps + 1):
        row = {
            "step": step,
            "reward": offset + step / steps,
            "rewards/accuracy_reward/mean": offset + 0.5 * step / steps,
            "rewards/accuracy_reward/std": 0.3,
            "rewards/format_reward/mean": min(1.0, step / 4),
            "rewards/format_reward/std": 0.1,
            "accuracy": 0.5 * step / steps,
            "format_rate": min(1.0, step / 4),
            "completion_length/mean": 100 + step,
            "completion_length/max": 200,
            "truncated_rate": 0.05,
            "kl": 0.001 * step,
            "entropy": 1.0 - 0.02 * step,
            "clip_ratio/low": 0.0,
            "clip_ratio/high": 0.01,
            "clip_ratio/region": 0.01,
            "grad_norm": 1.0,
            "lr": 1e-6,
            "zero_variance_frac": 0.25,
            "language/target_share": 0.99,
            "language/mixed_rate": 0.01,
            "note": "non-numeric values are ignored",
        }
        if step % 2:
            row["type"] = "train"  # half the rows say it, half leave it implicit
        lines.append(json.dumps(row))
        if step % eval_every == 0:
            lines.append(
                json.dumps({"step": step, "type": "eval", "eval/accuracy": 0.4 + offset, "eval/pass@1": 0.4})
            )
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return run_dir


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 5_000, (path, len(data))  # a real plot, not an empty canvas


def test_cli_writes_pngs_for_two_runs(tmp_path, capsys):
    run_a = write_run(tmp_path / "run_a")
    run_b = write_run(tmp_path / "run_b", offset=0.2)
    # The trainer's config.yaml nests the name under "run".
    (run_b / "config.yaml").write_text("run:\n  run_name: grpo-b\n  max_steps: 12\n", encoding="utf-8")
    out = tmp_path / "plots"
    assert main([str(run_a), str(run_b), "--out", str(out), "--smooth", "0.6"]) == 0

    printed = capsys.readouterr().out.split()
    names = {Path(p).name for p in printed}
    expected = {
        "curves.png",
        "reward.png",
        "reward_accuracy_reward.png",
        "reward_format_reward.png",
        "accuracy.png",
        "format_rate.png",
        "completion_length.png",
        "kl.png",
        "entropy.png",
        "clip_fraction.png",
        "language.png",
        "zero_variance.png",
        "optimizer.png",
        "eval.png",
    }
    assert names == expected  # no throughput.png (no step_time/tokens_per_s), no other.png
    assert {p.name for p in out.iterdir()} == expected
    for path in out.iterdir():
        assert_png(path)


def test_python_dash_m_entry_point(tmp_path):
    run = write_run(tmp_path / "solo", steps=5)
    result = subprocess.run(
        [sys.executable, "-m", "minirl.plot", str(run), "--metrics", "reward,eval/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    # Default output folder for a single run is RUN_DIR/plots.
    assert sorted(p.name for p in (run / "plots").iterdir()) == ["curves.png", "eval.png", "reward.png"]
    assert_png(run / "plots" / "curves.png")


def test_missing_metrics_file_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "no_metrics"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"no_metrics has no metrics\.jsonl"):
        plot_runs([empty], tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plot_runs([tmp_path / "nowhere"], tmp_path / "out")
    assert main([str(empty), "--out", str(tmp_path / "out")]) == 2
    assert "metrics.jsonl" in capsys.readouterr().err


def test_bad_line_in_the_middle_names_file_and_line(tmp_path):
    run = write_run(tmp_path / "broken", steps=3)
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines()
    lines.insert(1, '{"step": 2, "reward": ')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"metrics\.jsonl:2: not valid JSON"):
        read_metrics(path)
    with pytest.raises(ValueError, match=r"broken.metrics\.jsonl:2"):
        plot_runs([run], tmp_path / "out")


def test_truncated_last_line_is_skipped_with_a_warning(tmp_path):
    run = write_run(tmp_path / "live", steps=3, eval_every=100, extra='{"step": 4, "rew')
    with pytest.warns(UserWarning, match=r"metrics\.jsonl:4: skipping an incomplete last line"):
        rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    with pytest.warns(UserWarning, match="incomplete last line"):
        written = plot_runs([run], tmp_path / "out", metrics=["reward"])
    assert [p.name for p in written] == ["curves.png", "reward.png"]


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("[1, 2, 3]", "expected a JSON object"),
        ('{"reward": 1.0}', "numeric 'step'"),
        ('{"step": "3", "reward": 1.0}', "numeric 'step'"),
        ('{"step": 3, "type": 7}', "'type' must be"),
    ],
)
def test_malformed_rows_are_rejected(tmp_path, line, match):
    path = tmp_path / "metrics.jsonl"
    path.write_text(f'{{"step": 1, "reward": 0}}\n{line}\n{{"step": 9, "reward": 1}}\n')
    with pytest.raises(ValueError, match=match) as info:
        read_metrics(path)
    assert ":2:" in str(info.value)


def test_load_run_series_types_and_resumed_steps(tmp_path):
    path = tmp_path / "r" / "metrics.jsonl"
    path.parent.mkdir()
    rows = [
        {"step": 1, "reward": 0.1, "accuracy": 0.0},
        {"step": 2, "reward": 0.2, "kl": float("nan")},
        {"step": 2, "type": "eval", "accuracy": 0.3},  # unprefixed eval key -> eval/accuracy
        {"step": 1, "reward": 0.15},  # resumed run re-logs step 1: later line wins
        {"step": 3, "reward": True, "flag": None, "tags": ["x"]},  # non-numeric values ignored
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    run = load_run(path.parent)
    assert run.label == "r"
    assert run.series["reward"] == ([1, 2], [0.15, 0.2])
    assert run.series["accuracy"] == ([1], [0.0])
    assert run.series["eval/accuracy"] == ([2], [0.3])
    assert math.isnan(run.series["kl"][1][0])
    assert set(run.series) == {"reward", "accuracy", "eval/accuracy", "kl"}
    assert run.sparse_keys == {"eval/accuracy"}
    # A metrics file can be given directly, too.
    assert load_run(path).series == run.series


def test_run_label_from_config_json_and_duplicate_labels(tmp_path):
    a = write_run(tmp_path / "a" / "grpo", steps=3)
    b = write_run(tmp_path / "b" / "grpo", steps=3)
    assert load_run(a).label == "grpo"
    (a / "config.json").write_text(json.dumps({"run_name": "lr-1e-6"}))
    assert load_run(a).label == "lr-1e-6"
    (a / "config.yaml").write_text("run:\n  run_name: null\n")  # unset name: fall through to config.json
    assert load_run(a).label == "lr-1e-6"
    (a / "config.yaml").write_text("run:\n  run_name: from-yaml\n")
    assert load_run(a).label == "from-yaml"
    (b / "config.yaml").write_text("run_name: [unclosed\n")
    with pytest.warns(UserWarning, match="config.yaml"):
        assert load_run(b).label == "grpo"

    runs = [load_run(a), Run("grpo", b), Run("grpo", b), Run("other", b)]
    runs[0].label = "grpo"
    _dedupe_labels(runs)
    assert [r.label for r in runs] == ["grpo (1)", "grpo (2)", "grpo (3)", "other"]


def test_groups_cover_every_key_once():
    keys = {
        "reward",
        "rewards/acc/mean",
        "rewards/acc/std",
        "rewards/fmt/mean",
        "completion_length/mean",
        "truncated_rate",
        "eval/pass@1",
        "step_time",
        "my_custom_metric",
    }
    groups = _groups(keys)
    stems = [stem for stem, _, _ in groups]
    assert stems == ["reward", "reward_acc", "reward_fmt", "completion_length", "throughput", "eval", "other"]
    flat = [k for _, _, ks in groups for k in ks]
    assert sorted(flat) == sorted(keys)
    assert dict((s, ks) for s, _, ks in groups)["reward_acc"] == ["rewards/acc/mean", "rewards/acc/std"]


def test_metrics_filter_and_errors(tmp_path):
    run = write_run(tmp_path / "run", steps=4)
    with pytest.warns(UserWarning, match="no_such_metric"):
        written = plot_runs([run], tmp_path / "out", metrics=["kl", "no_such_metric"])
    assert [p.name for p in written] == ["curves.png", "kl.png"]
    with pytest.raises(ValueError, match="none of the requested metrics"), pytest.warns(UserWarning):
        plot_runs([run], tmp_path / "out", metrics=["nope"])
    with pytest.raises(ValueError, match="smooth"):
        plot_runs([run], tmp_path / "out", smooth=1.0)
    with pytest.raises(ValueError, match="at least one run"):
        plot_runs([], tmp_path / "out")


def test_custom_metrics_only_still_get_a_summary(tmp_path):
    path = tmp_path / "custom" / "metrics.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps({"step": s, "my_loss": 1 / s}) + "\n" for s in range(1, 6)))
    written = plot_runs([path.parent], tmp_path / "out")
    assert [p.name for p in written] == ["curves.png", "other.png"]
    for p in written:
        assert_png(p)


def test_ema():
    assert ema([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    assert ema([2.0, 4.0], 0.75) == [2.0, 2.5]
    out = ema([1.0, math.nan, 3.0], 0.5)
    assert out[0] == 1.0 and math.isnan(out[1]) and out[2] == 2.0
    with pytest.raises(ValueError):
        ema([1.0], -0.1)
