"""Evaluation end to end on the tiny model: the CLI, its outputs, and its errors."""

from __future__ import annotations

import json
import math
from dataclasses import fields

import pytest

import rewards
from minirl.config_parse import parse_fields
from minirl.eval.__main__ import EvalArgs
from minirl.eval.__main__ import main as eval_main
from minirl.eval.metrics import majority_vote
from minirl.eval.runner import VALID_SOLUTION, summarize, vote_key
from minirl.tasks import get_task


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
            "--max_new_tokens",
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
    with pytest.raises(SystemExit) as exc:
        eval_main(["--model", str(tiny_model_dir), "--task", "chess", "--n", "1"])
    assert exc.value.code == 2
    assert "chess" in capsys.readouterr().err


@pytest.mark.parametrize(
    "bad",
    [
        ["--max-new-tokens", "6"],
        ["--k", "many"],
        ["--k", "0"],
        ["--one_shot", "maybe"],
        ["--temperature", "0"],
    ],
)
def test_a_bad_flag_or_value_is_one_line_and_exit_2(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        eval_main(["--model", "/no/such/model", *bad])  # refused before any model is looked for
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert bad[0].lstrip("-") in err  # the flag is named


def test_help_lists_every_field_with_its_docstring(capsys):
    with pytest.raises(SystemExit) as exc:
        eval_main(["--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for f in fields(EvalArgs):
        assert f"--{f.name}" in text
    for doc in ("Samples per problem besides the greedy answer", "Put one worked example in the prompt"):
        assert doc in text


def test_a_config_file_sets_the_fields_and_flags_win(tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text("task: countdown\nk: 4\nno_reasoning: true\ntask_args: {max_digits: 2}\n")
    args = parse_fields(EvalArgs, ["--config", str(path), "--k", "2"])
    assert (args.task, args.k, args.no_reasoning, args.task_args) == ("countdown", 2, True, {"max_digits": 2})


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


def test_summarize_reports_greedy_and_sampled_target_and_english_shares():
    rec = {
        "correct": [1.0, 1.0, 0.0],
        "format": [1.0, 1.0, 1.0],
        "target_share": [1.0, 0.5, None],  # the last sample has no words: left out
        "english_share": [0.0, 0.5, None],
        "lengths": [5, 6, 7],
        "truncated": [False, False, False],
        "extracted": ["4", "4", "5"],
        "gold": "4",
    }
    other = {**rec, "target_share": [0.0, 0.0, 0.0], "english_share": [1.0, 1.0, 1.0]}
    m = summarize([rec, other], k=2).metrics
    assert m["target_share"].value == pytest.approx(0.5) and m["english_share"].value == pytest.approx(0.5)
    assert m["target_share_sampled"].value == pytest.approx((0.5 + 0.0) / 2)  # a mean over problems
    assert m["english_share_sampled"].value == pytest.approx((0.5 + 1.0) / 2)
    assert summarize([rec]).metrics["english_share"].value == 0.0


def test_reasoning_metrics_say_whether_the_answer_was_worked_out_before_it_was_given():
    base = {"correct": [1.0], "format": [1.0], "target_share": [1.0], "lengths": [9], "truncated": [False]}
    worked = {**base, "reasoning_words": [5], "answer_in_reasoning": [True]}
    apart = {**base, "reasoning_words": [3], "answer_in_reasoning": [False]}
    unjudged = {**base, "reasoning_words": [0], "answer_in_reasoning": [None]}  # no reasoning: not counted
    res = summarize([worked, worked, apart, unjudged])
    assert res.metrics["answer_in_reasoning"].value == pytest.approx(2 / 3)
    assert res.metrics["answer_in_reasoning"].n == 3
    assert res.metrics["reasoning_words"].value == pytest.approx(13 / 4)
    assert summarize([unjudged]).metrics["answer_in_reasoning"].n == 0  # nothing to judge: "-", not 0
    assert "answer_in_reasoning" not in summarize([base]).flat()  # records of an older run: no such metric


# ---------------------------------------------------------------- maj@k vote keys


def _record(votes_of, texts, correct, gold="20"):
    """A summarize() record for one problem; greedy completion first, then the samples."""
    extracted = [rewards.extract_answer(t) for t in texts]
    return {
        "gold": gold,
        "completions": texts,
        "extracted": extracted,
        "votes": [votes_of(a, c) for a, c in zip(extracted, correct)],
        "correct": correct,
        "format": [1.0] * len(texts),
        "target_share": [1.0] * len(texts),
        "lengths": [4] * len(texts),
        "truncated": [False] * len(texts),
    }


def _countdown_record(answers):
    """Record for the puzzle nums [2, 5, 6] -> 20, scored by the real countdown reward."""
    task = get_task("countdown")
    texts = [f"<answer>{a}</answer>" for a in answers]
    correct = rewards.countdown_reward(texts, nums=[[2, 5, 6]] * len(texts), target=[20] * len(texts))
    return _record(lambda a, c: vote_key(task, a, c), texts, correct)


def test_vote_key_groups_countdown_solutions_and_normalizes_answers():
    cd, ar = get_task("countdown"), get_task("arithmetic")
    assert vote_key(cd, "(6 - 2) * 5", 1.0) == vote_key(cd, "5*(6-2)", 1.0) == VALID_SOLUTION
    assert vote_key(cd, "6 * 5 - 2", 0.0) == vote_key(cd, "6*5-2", 0.0) == "6*5-2"
    assert vote_key(cd, "6 * 5 - 2", 0.0) != VALID_SOLUTION
    assert vote_key(cd, None, 0.0) is None and vote_key(cd, "  ", 0.0) is None
    assert vote_key(ar, "1,000.0", 0.0) == vote_key(ar, "1000", 1.0) == "1000"
    assert vote_key(ar, None, 0.0) is None


def test_countdown_maj_counts_different_correct_expressions_as_one_vote():
    # Samples: one wrong expression twice, three different right ones. As classes: 3 right v 2 wrong.
    # Voting on raw strings would pick the wrong one (2 v 1 v 1 v 1).
    rec = _countdown_record(["6*5", "6*5-2", "(6 - 2) * 5", "6 * 5 - 2", "5 * (6 - 2)", "((6-2))*5"])
    assert rec["correct"] == [0.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    res = summarize([rec], k=5)
    assert res.metrics["maj@5"].value == 1.0
    assert res.metrics["pass@1"].value == 0.0  # the greedy answer is wrong
    # The guard that makes this test meaningful: raw-string voting is wrong on these samples.
    assert majority_vote([rewards.normalize_answer(a) for a in rec["extracted"][1:]]) == "6*5-2"


def test_countdown_maj_ties_go_to_the_class_seen_first():
    right_first = _countdown_record(["6*5", "(6-2)*5", "6*5-2", "6 * 5 - 2", "5*(6-2)"])
    wrong_first = _countdown_record(["6*5", "6*5-2", "(6-2)*5", "5*(6-2)", "6 * 5 - 2"])
    assert summarize([right_first], k=4).metrics["maj@4"].value == 1.0
    assert summarize([wrong_first], k=4).metrics["maj@4"].value == 0.0
    # k limits the vote to the first k samples: 1 v 1 with the wrong one first.
    assert summarize([wrong_first], k=2).metrics["maj@2"].value == 0.0
    assert summarize([right_first], k=2).metrics["maj@2"].value == 1.0


def test_summarize_without_words_to_classify_reports_no_mixed_rate(tmp_path):
    rec = {
        "gold": "4",
        "completions": ["4"],
        "extracted": [None],
        "correct": [0.0],
        "format": [0.0],
        "target_share": [None],  # language_consistency_reward found no words
        "lengths": [1],
        "truncated": [False],
    }
    res = summarize([rec, rec])
    assert res.metrics["mixed_rate"].n == 0 and res.metrics["target_share"].n == 0
    assert "- (n=0)" in str(res.metrics["mixed_rate"])
    assert "mixed_rate - (n=0)" in res.summary_line()
    flat = res.flat()
    assert "mixed_rate" not in flat and "target_share_low" not in flat
    assert all(math.isfinite(v) for v in flat.values())
    res.save(tmp_path)
    summary = json.loads(
        (tmp_path / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON")
    )
    assert summary["metrics"]["mixed_rate"] == {"value": None, "low": None, "high": None, "n": 0}
    assert summary["metrics"]["pass@1"]["n"] == 2


def test_cli_n_all_takes_the_whole_split(tiny_model_dir, tmp_path):
    out = tmp_path / "eval"
    args = [
        "--model",
        str(tiny_model_dir),
        "--task",
        "arithmetic",
        "--max_new_tokens",
        "2",
        "--out",
        str(out),
    ]
    assert eval_main([*args, "--n", "all"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["n_problems"] == len(get_task("arithmetic").examples("test")) == 24
    rows = [json.loads(line) for line in (out / "problems.jsonl").read_text().splitlines()]
    assert all(len(r["votes"]) == len(r["completions"]) for r in rows)
    for bad in ("0", "-3", "many"):
        with pytest.raises(SystemExit) as exc:
            eval_main([*args, "--n", bad])
        assert exc.value.code == 2


@pytest.mark.parametrize("bad", ["[1, 2]", "{max_digits: [", "7"])
def test_bad_task_args_are_a_clear_error_before_loading(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        eval_main(["--model", "/no/such/model", "--task_args", bad])
    assert exc.value.code == 2
    assert "task_args" in capsys.readouterr().err


def test_unknown_task_setting_is_a_clear_error(tiny_model_dir, capsys):
    with pytest.raises(SystemExit) as exc:
        eval_main(["--model", str(tiny_model_dir), "--task", "arithmetic", "--task_args", "{digits: 2}"])
    assert exc.value.code == 2
    assert "digits" in capsys.readouterr().err
