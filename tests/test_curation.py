"""Curation filters on hand-made traces (both directions) and the bookkeeping of ``curate``."""

from __future__ import annotations

import json
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirl.r1.s2_curate import (
    DEFAULT_FILTERS,
    NearDuplicateFilter,
    curate,
    default_filters,
    keep_correct,
    keep_format,
    keep_language,
    keep_length,
    keep_no_repetition,
)

END = "\n</think>\n<answer>{}</answer>"


def rec(reasoning: str, answer: str = "11", gold: str = "11", task: str = "arithmetic", **extra) -> dict:
    """A record as the pools make them: the completion starts inside the think block."""
    return {
        "task": task,
        "prompt_question": "What is 3 + 4 * 2?",
        "answer": gold,
        "kind": "hand",
        "completion": reasoning + END.format(answer),
        **extra,
    }


CLEAN = rec("First, 4 * 2 = 8.\nThen 3 + 8 = 11.\nSo the answer is 11.")
ZH_MIXED = rec("First, 4 * 2 = 8.\n然后 3 + 8 = 11。\n所以答案是 11。")
RU_MIXED = rec("First, 4 * 2 = 8.\nЗатем 3 + 8 = 11.\nЗначит, ответ 11.")
CODE = rec("Let me use Python.\n```python\nstep_1 = 4 * 2\nprint(3 + step_1)\n```\nSo the answer is 11.")
BARE_CODE = rec(
    "Let me use Python.\nstep_1 = 4 * 2\nresult_sum = 3 + step_1\nprint(result_sum)\nSo it is 11."
)
LOOP = rec("First, 4 * 2 = 8. " + "Wait, let me check that again. " * 10 + "So the answer is 11.")


# ---------------------------------------------------------------------------------------------------------------------
# Single filters


def test_language_keeps_english_and_drops_mixed_and_code():
    assert keep_language(CLEAN)
    for bad in (ZH_MIXED, RU_MIXED, CODE, BARE_CODE):
        assert not keep_language(bad), bad["completion"]


def test_language_threshold_and_target_language():
    # 3 of the 10 words are Han characters in this one: a low threshold lets it through.
    light = rec("First add four and eight, then three. 所以是 11.")
    assert not keep_language(light)
    assert keep_language(light, threshold=0.5)
    zh = rec("先算四乘二等于八，再加三等于十一。")
    assert keep_language(zh, language="zh") and not keep_language(zh)


def test_language_wordless_reasoning():
    wordless = rec("4 * 2 = 8\n3 + 8 = 11")
    assert keep_language(wordless)
    assert not keep_language(wordless, keep_wordless=False)


def test_format_both_directions():
    assert keep_format(CLEAN)
    assert keep_format({"completion": "<think>\nok\n</think>\n<answer>1</answer>"})  # opening tag included
    broken = [
        "ok\n<answer>11</answer>",  # no </think>
        "ok\n</think>\n<answer>11",  # unclosed answer
        "ok\n</think>\nThe answer is 11.",  # no answer block
        "ok\n</think>\n</think>\n<answer>11</answer>",  # doubled tag
        "ok\n</think>\n<answer>11</answer>\n<think>\nmore",  # text after the answer
    ]
    for text in broken:
        assert not keep_format({"completion": text}), text


def test_correct_arithmetic_gsm8k_and_countdown():
    assert keep_correct(CLEAN)
    assert not keep_correct(rec("So the answer is 12.", answer="12"))
    gsm = rec(
        "48 / 2 = 24.", answer="72", gold="Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", task="gsm8k"
    )
    assert keep_correct(gsm)
    cd = {"task": "countdown", "nums": [2, 5, 6], "target": 20, "answer": "20"}
    assert keep_correct({**cd, "completion": "ok" + END.format("(6 - 2) * 5")})
    assert not keep_correct({**cd, "completion": "ok" + END.format("6 * 5 - 2")})
    assert not keep_correct(
        {**cd, "completion": "ok" + END.format("20")}
    )  # the bare target is not an equation


def test_correct_refuses_records_without_gold():
    with pytest.raises(ValueError, match="needs the gold 'answer'"):
        keep_correct({"task": "arithmetic", "completion": "x"})
    with pytest.raises(ValueError, match="'nums' and 'target'"):
        keep_correct({"task": "countdown", "answer": "3", "completion": "x"})
    with pytest.raises(ValueError, match="cannot be parsed"):
        keep_correct({"task": "arithmetic", "answer": None, "completion": "x"})


def test_length_bounds():
    assert keep_length(CLEAN)
    assert not keep_length({"completion": "11"})  # too few words
    assert not keep_length(CLEAN, max_words=5)
    assert not keep_length(CLEAN, max_chars=20)
    assert keep_length({"completion": "一二三四五六七八九十"}, min_words=1, min_chars=10)


def test_repetition_both_directions():
    assert keep_no_repetition(CLEAN)
    assert not keep_no_repetition(LOOP)
    assert keep_no_repetition(LOOP, max_repeated=0.99)


def test_filters_reject_non_records_clearly():
    with pytest.raises(ValueError, match="string 'completion'"):
        keep_format({"completion": None})


# ---------------------------------------------------------------------------------------------------------------------
# Near duplicates


def test_near_duplicates_exact_after_normalization_and_small_edits():
    dedup = NearDuplicateFilter()
    dedup.add(CLEAN)
    respaced = {**CLEAN, "completion": CLEAN["completion"].replace(" ", "  ").upper()}
    edited = {**CLEAN, "completion": CLEAN["completion"].replace("So the", "So, the")}
    assert not dedup(respaced)
    assert not dedup(edited)
    assert dedup(ZH_MIXED)  # different text
    assert dedup(
        {**CLEAN, "prompt_question": "What is 9 - 1?"}
    )  # same reasoning, other problem: keep by default
    dedup.reset()
    assert dedup(respaced)


def test_near_duplicates_exact_mode_and_determinism():
    exact = NearDuplicateFilter(threshold=1.0)
    exact.add(CLEAN)
    assert not exact({**CLEAN, "completion": "  " + CLEAN["completion"].lower()})
    assert exact({**CLEAN, "completion": CLEAN["completion"].replace("So the", "So, the")})
    a, b = NearDuplicateFilter(), NearDuplicateFilter()
    assert a._bands({"abcde", "bcdef"}) == b._bands({"abcde", "bcdef"})  # stable hashes, not Python's hash()
    with pytest.raises(ValueError, match="threshold"):
        NearDuplicateFilter(threshold=0)


# ---------------------------------------------------------------------------------------------------------------------
# curate


def test_curate_counts_each_drop_once_under_the_first_filter():
    wrong_and_mixed = rec("然后 3 + 8 = 12。", answer="12")  # fails language and correctness
    records = [CLEAN, ZH_MIXED, wrong_and_mixed, LOOP, dict(CLEAN), rec("")]  # the last is too short
    kept, report = curate(records)
    assert kept == [CLEAN]
    assert report.dropped == {
        "language": 2,
        "format": 0,
        "correct": 0,
        "length": 1,
        "repetition": 1,
        "near_duplicate": 1,
    }
    assert report.total == report.kept + sum(report.dropped.values()) == len(records)
    seen = [report.seen[name] for name in report.filters]
    assert all(seen[i + 1] == seen[i] - report.dropped[name] for i, name in enumerate(report.filters[:-1]))
    assert report.dropped_by_kind["language"] == {"hand": 2}
    table = report.to_markdown()
    assert "| language | 6 | 2 |" in table and "**1**" in table
    assert json.loads(json.dumps(report.to_dict()))["filters"][0]["name"] == "language"


def test_curate_is_repeatable_and_order_independent_for_duplicates():
    records = [CLEAN, dict(CLEAN), ZH_MIXED]
    assert curate(records)[1].to_dict() == curate(records)[1].to_dict()  # the dedup memory is reset per call
    # Dedup remembers only records every filter kept: a mixed copy dropped earlier does not block the clean one.
    zh_first = [ZH_MIXED, dict(ZH_MIXED), CLEAN]
    kept, report = curate(zh_first, [("near_duplicate", NearDuplicateFilter()), ("language", keep_language)])
    assert kept == [CLEAN] and report.dropped == {"near_duplicate": 0, "language": 2}


def test_curate_custom_filters_and_errors():
    kept, report = curate([CLEAN, LOOP], [keep_format, partial(keep_no_repetition, max_repeated=0.1)])
    assert report.filters == ["format", "no_repetition"] and kept == [CLEAN]
    with pytest.raises(ValueError, match="record #1"):
        curate([CLEAN, {"answer": "3"}])
    with pytest.raises(ValueError, match="unique"):
        curate([CLEAN], [keep_format, keep_format])
    with pytest.raises(TypeError, match="not callable"):
        curate([CLEAN], [("x", 3)])
    assert [name for name, _ in DEFAULT_FILTERS] == [name for name, _ in default_filters()]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from([CLEAN, ZH_MIXED, RU_MIXED, CODE, LOOP, rec("ok", answer="3")]), max_size=12))
def test_curate_report_adds_up(records):
    kept, report = curate(records)
    assert report.total == len(records) == report.kept + sum(report.dropped.values())
    assert len(kept) == report.kept <= 1  # only CLEAN passes, and only its first copy
    assert all(keep_language(r) and keep_format(r) and keep_correct(r) for r in kept)


def test_one_mixed_language_threshold_everywhere():
    """Curation, evaluation and the language-mixing report split mixed from target at ``rewards.MIXED_BELOW``."""
    import inspect

    import rewards
    from minirl.eval.runner import summarize
    from minirl.r1.config import LanguageMixingConfig
    from minirl.r1.mixing import accuracy_by_mode, mixing_metrics

    t = rewards.MIXED_BELOW
    assert inspect.signature(keep_language).parameters["threshold"].default == t
    assert inspect.signature(default_filters).parameters["language_threshold"].default == t
    assert LanguageMixingConfig().cold_start.language_threshold == t
    shares = [t, t - 1e-3]  # at the threshold: target language; just below: mixed
    record = {
        "completions": ["g", "a", "b"],
        "correct": [1.0, 1.0, 0.0],
        "format": [1.0, 1.0, 1.0],
        "target_share": [t - 1e-3, *shares],
        "truncated": [False] * 3,
        "lengths": [5] * 3,
        "extracted": ["7"] * 3,
    }
    assert summarize([record]).metrics["mixed_rate"].value == 1.0  # greedy share just below
    assert mixing_metrics([record])["mixed_rate"].value == 0.5
    assert accuracy_by_mode([record]) == {
        "target": {"n": 1, "accuracy": 1.0},
        "mixed": {"n": 1, "accuracy": 0.0},
    }
