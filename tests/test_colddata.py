"""Synthetic cold-start pools: determinism, exact shares, what each kind really contains, and curation of them."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewards
from minirl.r1.records import to_sft_records
from minirl.r1.s1_pool import (
    CLEAN_ONLY,
    KINDS,
    MAX_COUNT,
    PoolConfig,
    allocate,
    arithmetic_plan,
    make_clean,
    make_pool,
    mixed_languages,
)
from minirl.r1.s2_curate import curate, keep_correct, keep_format, keep_no_repetition
from minirl.tasks import Example, PromptStyle, build_prompt, get_task

TASK_SETTINGS = {
    "arithmetic": {"num_terms": 3, "max_digits": 2, "ops": "+-*"},
    "countdown": {"num_numbers": 4},
}


@pytest.fixture(scope="module", params=["arithmetic", "countdown", "gsm8k"])
def task_and_examples(request):
    name = request.param
    if name == "gsm8k":
        task = get_task("gsm8k", path=str(request.getfixturevalue("gsm8k_fixture_dir")))  # our 20 train rows
    else:
        task = get_task(name, **TASK_SETTINGS[name])
    return task, task.examples("train", n=100, seed=0)


def _only(**settings) -> PoolConfig:
    """A pool config with every non-clean share 0 except those given (other settings pass through)."""
    return PoolConfig(**{**dict.fromkeys(KINDS[1:], 0.0), **settings})


# ---------------------------------------------------------------------------------------------------------------------
# Configuration and allocation


def test_pool_config_validation():
    assert PoolConfig().clean == pytest.approx(0.25)
    assert CLEAN_ONLY.clean == 1.0
    with pytest.raises(ValueError, match="sum to"):
        PoolConfig(mixed_language=0.8, code_in_reasoning=0.3)
    with pytest.raises(ValueError, match="broken_tags"):
        PoolConfig(broken_tags=-0.1)


def test_allocation_is_exact_when_shares_times_n_are_whole():
    counts = allocate(100, PoolConfig())
    assert counts == {
        "clean": 25,
        "mixed_language": 30,
        "code_in_reasoning": 15,
        "broken_tags": 10,
        "wrong_answer": 10,
        "repetition": 5,
        "duplicate": 5,
    }


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 500), st.lists(st.floats(0, 0.16), min_size=6, max_size=6))
def test_allocation_sums_to_n_and_is_within_one(n, shares):
    config = PoolConfig(**dict(zip(KINDS[1:], shares)))
    counts = allocate(n, config)
    assert sum(counts.values()) == n
    wanted = {"clean": config.clean, **config.shares()}
    assert all(abs(counts[k] - wanted[k] * n) < 1 for k in KINDS)


# ---------------------------------------------------------------------------------------------------------------------
# Pools


def test_pool_is_deterministic_and_hits_its_shares(task_and_examples):
    task, examples = task_and_examples
    pool = make_pool(task, examples, seed=3)
    assert pool == make_pool(task, examples, seed=3)
    assert pool != make_pool(task, examples, seed=4)
    assert Counter(r["kind"] for r in pool) == Counter(allocate(len(examples), PoolConfig()))
    json.dumps(pool)  # records are plain JSON


def test_kinds_contain_what_they_claim(task_and_examples):
    task, examples = task_and_examples
    pool = make_pool(task, examples, seed=0)
    by_kind: dict[str, list[dict]] = {}
    for r in pool:
        by_kind.setdefault(r["kind"], []).append(r)
    for r in by_kind["mixed_language"]:
        mix = rewards.language_mix(rewards.extract_think(r["completion"]))
        assert mix.get("latin", 0) > 0 and mix.get("han", 0) > 0 and mix.get("cyrillic", 0) > 0, r[
            "completion"
        ]
        assert keep_format(r) and keep_correct(r)  # correct by default: RL on correctness alone pays them too
    for r in by_kind["code_in_reasoning"]:
        assert rewards.language_mix(r["completion"]).get("code", 0) > 0.05
        assert "print(" in r["completion"] and keep_format(r) and keep_correct(r)
    assert not any(keep_format(r) for r in by_kind["broken_tags"])
    assert not any(keep_correct(r) for r in by_kind["wrong_answer"])
    assert all(keep_format(r) for r in by_kind["wrong_answer"])
    assert not any(keep_no_repetition(r) for r in by_kind["repetition"])
    assert all(keep_correct(r) for r in by_kind["repetition"])


def test_clean_traces_pass_every_filter(task_and_examples):
    task, examples = task_and_examples
    clean = make_clean(task, examples, seed=0)
    assert {r["kind"] for r in clean} == {"clean"}
    kept, report = curate(clean)
    assert len(kept) == len(clean), report.to_markdown()
    for r in clean[:5]:
        mix = rewards.language_mix(r["completion"])
        assert set(mix) == {"latin"}, r["completion"]


def test_curation_drops_most_uncurated_traces(task_and_examples):
    task, examples = task_and_examples
    pool = make_pool(task, examples, seed=0)
    kept, report = curate(pool)
    non_clean = [r for r in pool if r["kind"] != "clean"]
    kept_non_clean = [r for r in kept if r["kind"] != "clean"]
    assert len(kept_non_clean) <= 0.05 * len(non_clean), report.to_markdown()
    assert sum(r["kind"] == "clean" for r in kept) >= 0.9 * sum(r["kind"] == "clean" for r in pool)
    assert report.dropped_by_kind["language"].keys() == {"mixed_language", "code_in_reasoning"}


def test_mixed_traces_can_be_made_wrong(task_and_examples):
    task, examples = task_and_examples
    config = _only(mixed_language=0.5, code_in_reasoning=0.5, mixed_traces_correct=False)
    pool = make_pool(task, examples[:20], config, seed=0)
    assert all(keep_format(r) and not keep_correct(r) for r in pool)


def test_counting_strategy_counts_up_in_chinese_for_additions():
    task = get_task("arithmetic")  # single-digit a + b
    examples = task.examples("train", n=60, seed=0)
    config = _only(mixed_language=0.5, mixed_strategy="counting")
    pool = make_pool(task, examples, config, seed=0)
    mixed = [r for r in pool if r["kind"] == "mixed_language"]
    assert len(mixed) == 30
    for r in mixed:
        a, b = (int(x) for x in r["prompt_question"].removeprefix("What is ").rstrip("?").split(" + "))
        big, small = max(a, b), min(a, b)
        think = rewards.extract_think(r["completion"])
        # The count runs from big + 1 to big + small with its counter, and ends on the gold answer.
        assert all(f"{big + k} ({k})" in think for k in range(1, small + 1)), r["completion"]
        assert f"{big + small + 1} ({small + 1})" not in think
        assert keep_format(r) and keep_correct(r) and int(r["answer"]) == a + b
        mix = rewards.language_mix(think)
        assert mix.get("latin", 0) > 0 and mix.get("han", 0) > 0 and mix.get("cyrillic", 0) > 0, think
        assert rewards.target_language_share(think) < 0.95
    # The clean traces are unchanged by the setting: the same pool without it has the same clean records.
    same = make_pool(task, examples, _only(mixed_language=0.5), seed=0)
    assert [r for r in pool if r["kind"] == "clean"] == [r for r in same if r["kind"] == "clean"]
    assert not any("(1)" in r["completion"] for r in same)
    _, report = curate(pool)
    assert report.dropped_by_kind["language"] == {"mixed_language": 30}


def test_counting_strategy_keeps_the_same_reasoning_where_counting_does_not_apply():
    for task in (
        get_task("arithmetic", num_terms=3, max_digits=1),  # a + b + c: no single addition to count
        get_task("arithmetic", ops="*"),  # products are not counted
        get_task("countdown"),
    ):
        examples = task.examples("train", n=20, seed=0)
        counting = make_pool(task, examples, _only(mixed_language=1.0, mixed_strategy="counting"), seed=0)
        assert counting == make_pool(task, examples, _only(mixed_language=1.0), seed=0)
    # Two-digit additions count only when the smaller addend is at most MAX_COUNT.
    task = get_task("arithmetic", max_digits=2)
    examples = task.examples("train", n=40, seed=0)
    for rec in make_pool(task, examples, _only(mixed_language=1.0, mixed_strategy="counting"), seed=0):
        small = min(int(x) for x in rec["prompt_question"].removeprefix("What is ").rstrip("?").split(" + "))
        assert ("(1)" in rec["completion"]) == (1 <= small <= MAX_COUNT), rec["completion"]
    with pytest.raises(ValueError, match="mixed_strategy"):
        PoolConfig(mixed_strategy="abacus")


def test_to_sft_records_use_the_exact_rl_prompt(task_and_examples, tiny_tokenizer):
    task, examples = task_and_examples
    pool = make_pool(task, examples[:6], seed=0)
    style = PromptStyle()
    sft = to_sft_records(pool, tiny_tokenizer, style, task)
    eos = tiny_tokenizer.eos_token
    for record, source in zip(sft, pool):
        example = next(ex for ex in examples if ex.question == source["prompt_question"])
        assert record["prompt"] == build_prompt(example, tiny_tokenizer, style, task=task)
        assert record["completion"] == source["completion"] + eos
    # Without the prefilled <think>, the completion opens the block itself and is still well formed.
    clean = make_clean(task, examples[:1], seed=0)
    plain = to_sft_records(clean, tiny_tokenizer, PromptStyle(prefill_think=False), task)[0]
    assert plain["completion"].startswith("<think>\n") and not plain["prompt"].endswith("<think>\n")
    assert rewards.format_reward([plain["completion"].removesuffix(eos)]) == [1.0]
    # A sampled trace that re-opens <think> after the prefilled prompt keeps a single opening tag.
    reopened = to_sft_records(
        [{**clean[0], "completion": "<think>\n" + clean[0]["completion"]}], tiny_tokenizer, style, task
    )[0]
    assert reopened["completion"] == clean[0]["completion"] + eos


# ---------------------------------------------------------------------------------------------------------------------
# Pieces and errors


def test_arithmetic_steps_follow_precedence():
    plan = arithmetic_plan(get_task("arithmetic").example([5, 3, 4, 2], ["+", "*", "-"]), random.Random(0))
    ops = [(s[1]["a"], s[1]["op"], s[1]["b"], s[1]["c"]) for s in plan.steps if s[0].endswith("_op")]
    assert ops == [("3", "*", "4", "12"), ("5", "+", "12", "17"), ("17", "-", "2", "15")]
    assert plan.code[-1].startswith("print(step_3)") and plan.wrong_answer != "15"


def test_arithmetic_traces_come_from_the_tasks_own_steps():
    """The plan reads the operations the task computed (Example.worked_steps), never the question text."""
    task = get_task("arithmetic")
    ex = task.example([2, 2, 6, 4], ["-", "-", "*"])
    plan = arithmetic_plan(ex, random.Random(0))
    assert plan.code[:3] == ["step_1 = 2 - 2", "step_2 = 6 * 4", "step_3 = step_1 - step_2"]
    relabelled = Example("a question in other words", ex.answer, worked_steps=ex.worked_steps)
    assert arithmetic_plan(relabelled, random.Random(0)) == plan
    with pytest.raises(ValueError, match="no worked_steps.*ArithmeticTask"):
        arithmetic_plan(Example("What is 5 + 3 * 4 - 2?", "15"), random.Random(0))


def test_mixed_languages_always_has_english_chinese_and_russian():
    for seed in range(50):
        n = 3 + seed % 5
        langs = mixed_languages(n, random.Random(seed))
        assert langs[0] == "en" and "zh" in langs and langs.count("ru") == 1


def test_bad_inputs_fail_clearly(tiny_tokenizer):
    with pytest.raises(ValueError, match="supported"):
        make_pool("math", [Example("What is 1 + 1?", "2")])
    with pytest.raises(ValueError, match="example #0.*gold answer"):
        make_pool(
            "arithmetic",
            [
                Example(
                    "What is 1 + 1?",
                    "3",
                    worked_steps=get_task("arithmetic").example([1, 1], ["+"]).worked_steps,
                )
            ],
        )
    with pytest.raises(ValueError, match="no examples"):
        make_pool("arithmetic", [])
    with pytest.raises(ValueError, match="record #0 lacks"):
        to_sft_records([{"completion": "x"}], tiny_tokenizer, PromptStyle(), None)
