"""Tests for minirl.eval.metrics: pass@k, maj@k, Wilson and bootstrap intervals."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from fractions import Fraction

import pytest

from minirl.eval.metrics import (
    Estimate,
    bootstrap_interval,
    maj_at_k,
    majority_is_correct,
    majority_vote,
    mean_estimate,
    mean_pass_at_k,
    pass_at_k,
    proportion,
    wilson_interval,
)

# ---------------------------------------------------------------- pass@k


def brute_force_pass_at_k(n: int, c: int, k: int) -> Fraction:
    """Exact share of k-subsets of n samples (the first c correct) that contain a correct sample."""
    samples = [i < c for i in range(n)]
    subsets = list(itertools.combinations(samples, k))
    return Fraction(sum(any(s) for s in subsets), len(subsets))


@pytest.mark.parametrize("n", range(1, 11))
def test_pass_at_k_matches_brute_force_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            expected = float(brute_force_pass_at_k(n, c, k))
            assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12), (n, c, k)


def test_pass_at_k_special_cases():
    assert pass_at_k(16, 0, 8) == 0.0
    assert pass_at_k(16, 16, 1) == 1.0
    assert pass_at_k(16, 9, 8) == 1.0  # only 7 wrong samples: any 8 include a correct one
    assert pass_at_k(200, 37, 1) == pytest.approx(37 / 200)


def test_pass_at_k_stable_for_large_n():
    # C(1000, 500) overflows a float; the product form must not.
    exact = 1 - Fraction(math.comb(1000 - 3, 500), math.comb(1000, 500))
    assert pass_at_k(1000, 3, 500) == pytest.approx(float(exact), rel=1e-12)
    assert 0.0 <= pass_at_k(10_000, 1, 1) <= 1.0


@pytest.mark.parametrize(
    ("n", "c", "k", "err"),
    [
        (5, 2, 6, ValueError),  # k > n
        (5, 6, 1, ValueError),  # c > n
        (5, -1, 1, ValueError),
        (-1, 0, 1, ValueError),
        (5, 2, 0, ValueError),
        (5, 2, -1, ValueError),
        (5.0, 2, 1, TypeError),
        (5, True, 1, TypeError),
    ],
)
def test_pass_at_k_rejects_bad_input(n, c, k, err):
    with pytest.raises(err):
        pass_at_k(n, c, k)


def test_mean_pass_at_k():
    counts = [(5, 0), (5, 5), (5, 2), (8, 1)]
    expected = sum(float(brute_force_pass_at_k(n, c, 2)) for n, c in counts) / len(counts)
    assert mean_pass_at_k(counts, 2) == pytest.approx(expected)


def test_mean_pass_at_k_errors_name_the_problem():
    with pytest.raises(ValueError, match="problem 1"):
        mean_pass_at_k([(4, 1), (2, 1)], k=3)
    with pytest.raises(ValueError, match="empty"):
        mean_pass_at_k([], k=1)
    with pytest.raises(ValueError, match="problem 0"):
        mean_pass_at_k([(4, 1, 0)], k=1)


# ---------------------------------------------------------------- majority vote / maj@k


def test_majority_vote_most_frequent():
    assert majority_vote(["1", "2", "2", "3"]) == "2"


def test_majority_vote_tie_goes_to_first_appearance():
    assert majority_vote(["a", "b", "b", "a"]) == "a"
    assert majority_vote(["b", "a", "a", "b"]) == "b"
    # "c" appears first overall but is not among the tied leaders.
    assert majority_vote(["c", "b", "a", "a", "b"]) == "b"


def test_majority_vote_ignores_none_and_blank_and_strips():
    assert majority_vote([None, None, "4", None]) == "4"
    assert majority_vote(["", "  ", "x"]) == "x"
    assert majority_vote([" 7", "7 ", "8"]) == "7"
    assert majority_vote([None, None]) is None
    assert majority_vote([]) is None


def test_majority_vote_rejects_non_strings():
    with pytest.raises(TypeError, match="42"):
        majority_vote(["1", 42])


def test_maj_at_k_uses_first_k_samples():
    answers = [["1", "2", "2", "2"], ["3", "3", "4", "4"], [None, None, "9", "9"]]
    golds = ["1", "4", "9"]
    assert maj_at_k(answers, golds, k=1) == pytest.approx(1 / 3)  # only problem 0
    assert maj_at_k(answers, golds, k=2) == pytest.approx(1 / 3)  # tie 1/2 -> "1"; "3"; None
    assert maj_at_k(answers, golds, k=4) == pytest.approx(1 / 3)  # "2"; tie -> "3"; "9"
    assert maj_at_k(answers, golds, k=3) == pytest.approx(1 / 3)  # "2"; "3"; "9"
    golds = ["2", "3", "9"]
    assert maj_at_k(answers, golds, k=1) == pytest.approx(1 / 3)
    assert maj_at_k(answers, golds, k=4) == 1.0  # the 3/4 tie in problem 1 goes to "3" (first seen)


def test_maj_at_k_custom_equal():
    def numeric_equal(pred: str, gold: str) -> bool:
        return float(pred) == float(gold)

    answers = [["2.0", "2.0", "3"], ["5", "1", "1"]]
    assert maj_at_k(answers, ["2", "1.0"], k=3) == 0.0
    assert maj_at_k(answers, ["2", "1.0"], k=3, equal=numeric_equal) == 1.0


def test_maj_at_k_errors():
    with pytest.raises(ValueError, match="problem 1 has 1 samples"):
        maj_at_k([["1", "1"], ["1"]], ["1", "1"], k=2)
    with pytest.raises(ValueError, match="gold"):
        maj_at_k([["1"]], ["1", "2"], k=1)
    with pytest.raises(ValueError):
        maj_at_k([["1"]], ["1"], k=0)
    with pytest.raises(TypeError, match="problem 0"):
        maj_at_k([["1"]], [1], k=1)


# ---------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [(8, 10, 0.4902, 0.9433), (0, 10, 0.0, 0.2775), (50, 100, 0.4038, 0.5962), (10, 10, 0.7225, 1.0)],
)
def test_wilson_known_values(successes, n, low, high):
    got_low, got_high = wilson_interval(successes, n)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(("successes", "n"), [(1, 3), (8, 10), (37, 200), (499, 500)])
def test_wilson_bounds_solve_the_score_equation(successes, n):
    # The Wilson bounds are the p where |p_hat - p| = z * sqrt(p (1 - p) / n): check that independently.
    z = 1.959963984540054
    p_hat = successes / n
    for p in wilson_interval(successes, n):
        assert abs(p_hat - p) == pytest.approx(z * math.sqrt(p * (1 - p) / n), rel=1e-9)


def test_wilson_edge_cases():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(3, 10, z=1.0)
    low95, high95 = wilson_interval(3, 10)
    assert low95 < low < 0.3 < high < high95  # a smaller z gives a narrower interval
    with pytest.raises(ValueError, match="exceed"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(-1, 10)
    with pytest.raises(ValueError):
        wilson_interval(1, 10, z=0.0)


def test_bootstrap_is_deterministic_per_seed_and_contains_the_mean():
    values = [float((i * 37) % 101) for i in range(200)]
    a = bootstrap_interval(values, seed=3)
    assert a == bootstrap_interval(values, seed=3)
    assert a != bootstrap_interval(values, seed=4)
    assert a[0] < statistics.fmean(values) < a[1]
    # Roughly the normal-theory half width 1.96 * sd / sqrt(n).
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values))
    assert (a[1] - a[0]) / 2 == pytest.approx(half, rel=0.25)


def test_bootstrap_width_shrinks_with_alpha_and_constant_values():
    values = [1.0, 2.0, 4.0, 8.0, 16.0, 3.0]
    narrow = bootstrap_interval(values, alpha=0.5)
    wide = bootstrap_interval(values, alpha=0.05)
    assert wide[0] <= narrow[0] <= narrow[1] <= wide[1]
    assert bootstrap_interval([2.5] * 7) == (2.5, 2.5)


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        bootstrap_interval([])
    with pytest.raises(ValueError, match="value 1"):
        bootstrap_interval([1.0, float("nan")])
    with pytest.raises(TypeError, match="value 0"):
        bootstrap_interval(["1.0"])
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_interval([1.0], alpha=1.0)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_interval([1.0], n_boot=0)


def test_majority_is_correct_reads_the_winners_correctness():
    assert majority_is_correct(["a", "b", "b"], [1.0, 0.0, 0.0]) is False
    assert majority_is_correct(["a", "b", "b"], [0.0, 1.0, 1.0]) is True
    assert majority_is_correct([None, "b", None], [0.0, 1.0, 0.0]) is True
    assert majority_is_correct([None, None], [1.0, 1.0]) is False  # no vote cast: wrong
    assert majority_is_correct([], []) is False


def test_majority_is_correct_ties_go_to_first_appearance():
    # 2 v 2: the key seen first wins, whichever is right.
    assert majority_is_correct(["ok", "no", "no", "ok"], [1.0, 0.0, 0.0, 1.0]) is True
    assert majority_is_correct(["no", "ok", "ok", "no"], [0.0, 1.0, 1.0, 0.0]) is False
    # Three-way tie at 1 vote: the first key.
    assert majority_is_correct(["x", "y", "z"], [0.0, 1.0, 1.0]) is False


def test_majority_is_correct_uses_the_first_sample_of_the_winning_key():
    # Keys that agree on correctness are the normal case; if they disagree the first voter decides.
    assert majority_is_correct([" k", "k"], [1.0, 0.0]) is True
    assert majority_is_correct(["k", "k "], [0.0, 1.0]) is False


def test_majority_is_correct_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 votes but 1"):
        majority_is_correct(["a", "b"], [1.0])


# ---------------------------------------------------------------- Estimate


def test_estimate_str_and_dict():
    est = Estimate(value=0.412, low=0.371, high=0.455, n=500)
    assert str(est) == "0.412 [0.371, 0.455] (n=500)"
    assert json.loads(json.dumps(est.to_dict())) == {"value": 0.412, "low": 0.371, "high": 0.455, "n": 500}


def test_empty_estimate_prints_dash_and_saves_null():
    for est in (proportion(0, 0), Estimate(float("nan"), float("nan"), float("nan"), 0)):
        assert str(est) == "- (n=0)"
        # allow_nan=False: strict JSON, so no NaN sneaks into summary.json.
        assert json.loads(json.dumps(est.to_dict(), allow_nan=False)) == {
            "value": None,
            "low": None,
            "high": None,
            "n": 0,
        }
    # A measured zero is still a number with an interval.
    assert str(proportion(0, 5)) == "0.000 [0.000, 0.434] (n=5)"
    assert proportion(0, 5).to_dict()["value"] == 0.0


def test_estimate_without_interval():
    est = Estimate(12.0, float("nan"), float("nan"), 40)  # e.g. a median
    assert str(est) == "12.000 (n=40)"
    assert est.to_dict() == {"value": 12.0, "low": None, "high": None, "n": 40}


def test_proportion_and_mean_estimate():
    est = proportion(8, 10)
    assert est.value == 0.8 and est.n == 10
    assert (est.low, est.high) == wilson_interval(8, 10)
    assert proportion(0, 0) == Estimate(0.0, 0.0, 1.0, 0)

    values = [3, 5, 9, 1, 4, 4, 6]
    m = mean_estimate(values, seed=1)
    assert m.value == pytest.approx(statistics.fmean(values))
    assert m.n == 7
    assert m.low < m.value < m.high
    assert m == mean_estimate(values, seed=1)
    with pytest.raises(ValueError):
        mean_estimate([])
