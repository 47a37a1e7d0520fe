"""Evaluation end to end on the tiny model: the CLI, its outputs, and its errors."""

from __future__ import annotations

import json

import pytest

from minirl.eval.__main__ import main as eval_main
from minirl.eval.runner import summarize


def test_eval_cli_end_to_end_on_the_tiny_model(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    code = eval_main(
        [
            "--model",
            str(tiny_model_dir),
            "--task",
            "arithmetic",
            "--n",
            "3",
            "--k",
            "2",
            "--max-new-tokens",
            "6",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    for name in ("pass@1", "pass@1_sampled", "pass@2", "maj@2", "format_rate", "completion_length"):
        est = summary["metrics"][name]
        assert est["low"] <= est["value"] <= est["high"] or name == "completion_length"
    rows = [json.loads(line) for line in (out / "problems.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(len(r["completions"]) == 3 for r in rows)  # greedy + k samples
    assert "pass@1" in capsys.readouterr().out


def test_unknown_task_is_a_clear_error(tiny_model_dir, capsys):
    assert eval_main(["--model", str(tiny_model_dir), "--task", "chess", "--n", "1"]) == 2
    assert "chess" in capsys.readouterr().err


def test_summarize_counts_correct_answers():
    rec = {
        "correct": [1.0, 1.0, 0.0],
        "format": [1.0, 1.0, 1.0],
        "target_share": [1.0, 0.5, 1.0],
        "lengths": [5, 6, 7],
        "truncated": [False, False, True],
        "extracted": ["4", "4", "5"],
        "gold": "4",
    }
    res = summarize([rec, {**rec, "correct": [0.0, 0.0, 0.0], "extracted": ["1", "2", "1"]}], k=2)
    assert res.metrics["pass@1"].value == pytest.approx(0.5)
    assert res.metrics["pass@1_sampled"].value == pytest.approx(0.25)
    assert res.metrics["maj@2"].value == pytest.approx(0.5)
