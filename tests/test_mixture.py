"""MixtureTask (data.task: mixture): shares, determinism, no leakage, validation, delegation, run_data."""

from __future__ import annotations

from collections import Counter

import pytest

from minirl.config import DataConfig
from minirl.config_checks import ConfigError
from minirl.tasks import ArithmeticTask, Example, PromptStyle, check_not_held_out, get_task, worked_examples
from minirl.tasks.mixture import MixtureTask, largest_remainder
from minirl.trainer.data import run_data

TWO_DIGIT_PAIRS = {"task": "arithmetic", "task_args": {"num_terms": 2, "max_digits": 2}, "weight": 1}
FEW_DIGITS = {
    "task": "arithmetic",
    "task_args": {"num_terms": 4, "min_terms": 3, "max_digits": 1},
    "weight": 2,
}


def _terms(ex: Example) -> int:
    return ex.question.count("+") + 1


@pytest.fixture(scope="module")
def mix() -> MixtureTask:
    return MixtureTask([TWO_DIGIT_PAIRS, FEW_DIGITS])


def test_largest_remainder_sums_to_total():
    assert largest_remainder(10, [1, 2]) == [3, 7]
    assert largest_remainder(7, [1, 1, 1]) == [3, 2, 2]
    assert largest_remainder(5, [0.5, 0.25, 0.25]) == [3, 1, 1]
    assert sum(largest_remainder(101, [3, 1.5, 2.2])) == 101


@pytest.mark.parametrize(
    ("split", "n", "pairs"), [("train", 9, 3), ("train", 10, 3), ("test", 30, 10), ("test", 1, 0)]
)
def test_shares_per_split_and_n(mix, split, n, pairs):
    rows = mix.examples(split, n=n, seed=0)
    assert len(rows) == n
    assert sum(_terms(ex) == 2 for ex in rows) == pairs
    assert all(_terms(ex) in (3, 4) for ex in rows if _terms(ex) != 2)


def test_small_part_keeps_its_share_by_repeating():
    """Single-digit pairs: 100 problems, about 80 for training; asked for 150 of 300 rows, it repeats in rounds."""
    small = {"task": "arithmetic", "task_args": {"num_terms": 2, "max_digits": 1}}
    mix = MixtureTask([small, {"task": "arithmetic", "task_args": {"num_terms": 3, "max_digits": 1}}])
    rows = mix.examples("train", n=300, seed=0)
    pairs = [ex.question for ex in rows if _terms(ex) == 2]
    assert len(pairs) == 150
    assert len(set(pairs)) < 100  # repeats, not a handful swamped by dedup
    assert max(Counter(pairs).values()) == 2  # every distinct problem once before any repeats


def test_full_split_is_trimmed_to_the_weights():
    a = {"task": "arithmetic", "task_args": {"num_terms": 2, "max_digits": 1}, "weight": 1}
    b = {"task": "arithmetic", "task_args": {"num_terms": 2, "max_digits": 1, "ops": "-"}, "weight": 3}
    mix = MixtureTask([a, b])
    for split in ("train", "test"):
        full_a, full_b = (len(task.examples(split, None, 0)) for task in mix.parts)
        total = min(full_a * 4 // 1, full_b * 4 // 3)
        rows = mix.examples(split, None, seed=0)
        plus = sum("+" in ex.question for ex in rows)
        assert len(rows) == total
        assert [plus, len(rows) - plus] == largest_remainder(total, [1, 3])
        assert plus <= full_a and len(rows) - plus <= full_b
    # the subtraction part limits it: it gives its whole split, addition a third of that
    train = mix.examples("train", None, seed=0)
    minus = sum("-" in ex.question for ex in train)
    assert minus == len(mix.parts[1].examples("train", None, 0))


def test_deterministic_and_interleaved(mix):
    rows = mix.examples("train", n=60, seed=3)
    assert [ex.question for ex in rows] == [ex.question for ex in mix.examples("train", n=60, seed=3)]
    assert [ex.question for ex in rows] != [ex.question for ex in mix.examples("train", n=60, seed=4)]
    same = MixtureTask([TWO_DIGIT_PAIRS, FEW_DIGITS])  # a fresh instance gives the same rows
    assert [ex.question for ex in same.examples("train", n=60, seed=3)] == [ex.question for ex in rows]
    first_half = rows[:30]
    assert 0 < sum(_terms(ex) == 2 for ex in first_half) < 30  # not one part after the other


class _OtherFamily(ArithmeticTask):
    """Arithmetic questions under another name: its hash puts other questions in ``test``."""

    name = "arithmetic_b"


def test_no_leakage_between_same_family_parts():
    """Overlapping term counts: the same question can come from either part; splits still agree (same hash)."""
    a = {"task": "arithmetic", "task_args": {"num_terms": 3, "min_terms": 2, "max_digits": 1}}
    b = {"task": "arithmetic", "task_args": {"num_terms": 2, "max_digits": 1}}
    mix = MixtureTask([a, b])
    train = {ex.question for ex in mix.examples("train", n=400, seed=0)}
    test = set()
    for task in mix.parts:
        test |= {ex.question for ex in task.examples("test", None, 0)}
    assert train and test and not train & test
    assert {ex.question for ex in mix.examples("test", n=50, seed=0)} <= test


def test_train_rows_held_out_by_another_part_are_dropped(monkeypatch):
    from minirl.tasks import registry

    monkeypatch.setitem(registry._TASKS, "arithmetic_b", _OtherFamily)
    args = {"num_terms": 2, "max_digits": 1}
    plain, other = ArithmeticTask(**args), _OtherFamily(**args)
    # Without the filter this would leak: some of one part's training problems are the other's held-out ones.
    assert any(other.split_of(ex) == "test" for ex in plain.examples("train", None, 0))
    mix = MixtureTask(
        [{"task": "arithmetic", "task_args": args}, {"task": "arithmetic_b", "task_args": args}]
    )
    train = mix.examples("train", n=100, seed=0)
    assert len(train) == 100
    assert all(plain.split_of(ex) == "train" and other.split_of(ex) == "train" for ex in train)
    assert mix.split_of(plain.examples("test", n=1)[0]) == "test"


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([], r"mixture: parts must be a non-empty list"),
        (None, r"mixture: parts must be a non-empty list"),
        ([TWO_DIGIT_PAIRS, {"task": "algebra"}], r"mixture: parts\[1\]\.task: Unknown task 'algebra'"),
        ([{**TWO_DIGIT_PAIRS, "weight": 0}], r"mixture: parts\[0\]\.weight must be a number > 0, got 0"),
        (
            [TWO_DIGIT_PAIRS, {**FEW_DIGITS, "weight": -1}],
            r"mixture: parts\[1\]\.weight must be a number > 0",
        ),
        ([{**TWO_DIGIT_PAIRS, "weight": "2"}], r"mixture: parts\[0\]\.weight must be a number > 0"),
        (
            [{"task": "mixture", "task_args": {"parts": [TWO_DIGIT_PAIRS]}}],
            r"mixture: parts\[0\]\.task may not be",
        ),
        (
            [{"task": "arithmetic", "task_args": {"digits": 2}}],
            r"mixture: parts\[0\]\.task_args: .*no setting",
        ),
        (
            [{"task": "arithmetic", "task_args": {"num_terms": 1}}],
            r"mixture: parts\[0\]\.task_args: .*num_terms",
        ),
        ([{"task": "arithmetic", "task_args": [2]}], r"mixture: parts\[0\]\.task_args must be a mapping"),
        ([{"task_args": {}}], r"mixture: parts\[0\] must be a mapping"),
        ([{**TWO_DIGIT_PAIRS, "share": 1}], r"mixture: parts\[0\] must be a mapping"),
        (
            [TWO_DIGIT_PAIRS, {"task": "countdown"}],
            r"mixture: parts\[0\] \(arithmetic\) and parts\[1\] \(countdown\)",
        ),
    ],
)
def test_validation_is_one_line_naming_the_part(parts, message):
    with pytest.raises(ValueError, match=message) as err:
        get_task("mixture", parts=parts)
    assert "\n" not in str(err.value)


def test_delegates_to_the_part_that_made_the_example():
    c3 = {"task": "countdown", "task_args": {"num_numbers": 3}}
    c4 = {"task": "countdown", "task_args": {"num_numbers": 4}}
    mix = MixtureTask([c3, c4])
    assert mix.gold_columns == ("nums", "target") and mix.accuracy_reward == "countdown"
    for ex in mix.examples("train", n=6, seed=0):
        part = mix.parts[0] if len(ex.extra["nums"]) == 3 else mix.parts[1]
        assert mix.part_of(ex) is part
        assert mix.answer_text(ex) == ex.extra["solution"] == part.answer_text(ex)
    stranger = Example("What is 1 + 1?", "2")
    assert mix.part_of(stranger) is mix.parts[0]  # not produced here: the first part


def test_correct_localize_and_few_shot(mix):
    ex = mix.examples("train", n=3, seed=0)[0]
    right, wrong = f"<answer>{ex.answer}</answer>", f"<answer>{int(ex.answer) + 1}</answer>"
    assert mix.correct([right, wrong], answer=[ex.answer, ex.answer]) == [1.0, 0.0]
    fr = mix.localize(ex, "fr")
    assert fr.question.startswith("Combien font ") and fr.answer == ex.answer
    assert mix.part_of(fr) is mix.part_of(ex)
    assert mix.few_shot is mix.parts[0].few_shot and mix.split_of(mix.few_shot) == "train"
    [(shown, answer)] = worked_examples(PromptStyle(), mix)
    assert answer == shown.answer == mix.few_shot.answer


def test_check_not_held_out_refuses_any_parts_test_problem(mix):
    held_out = mix.parts[1].examples("test", n=1)[0]
    shown = {"question": held_out.question, "reasoning": "...", "answer": held_out.answer}
    with pytest.raises(ConfigError, match="held-out problem of mixture"):
        check_not_held_out(PromptStyle(worked_examples=[shown]), mix)
    fine = mix.parts[1].examples("train", n=1)[0]
    check_not_held_out(PromptStyle(worked_examples=[{**shown, "question": fine.question}]), mix)


def test_attributes_and_repr(mix):
    assert mix.name == "mixture" and mix.procedural
    assert mix.default_rewards == {"accuracy": 1.0, "format": 1.0, "tag_count": 0.5}
    assert repr(mix) == (
        "MixtureTask([1 x ArithmeticTask(num_terms=2, max_digits=2, ops='+', seed=0), "
        "2 x ArithmeticTask(num_terms=4, max_digits=1, ops='+', seed=0, min_terms=3)])"
    )


def test_run_data_builds_a_schedule_from_a_mixture_config():
    curriculum = [{"steps": 1, "task": "arithmetic", "task_args": {"num_terms": 2, "max_digits": 1}}]
    data_cfg = DataConfig(
        task="mixture",
        task_args={"parts": [TWO_DIGIT_PAIRS, FEW_DIGITS]},
        train_size=12,
        eval_size=6,
        curriculum=curriculum,
    )
    data = run_data(data_cfg, per_step=3, seed=0)
    assert isinstance(data.task, MixtureTask)
    assert [_terms(ex) == 2 for ex in data.train_examples].count(True) == 4
    assert [_terms(ex) == 2 for ex in data.eval_examples].count(True) == 2
    assert all(
        _terms(ex) == 2 and "+" in ex.question for ex in data.schedule.batch(0)
    )  # the curriculum stage
    later = [ex for step in range(1, 5) for ex in data.schedule.batch(step)]  # then the mixture, one epoch
    assert sorted(ex.question for ex in later) == sorted(ex.question for ex in data.train_examples)
