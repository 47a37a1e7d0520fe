"""Pure evaluation statistics: pass@k, maj@k and 95% intervals (stdlib only, no torch).

pass@k is the unbiased estimator of Chen et al. 2021, "Evaluating Large Language Models Trained on Code"
(arXiv:2107.03374, eq. 1 and its numerically stable form in Figure 3): with ``n`` samples of which ``c`` are
correct,

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i)

The product form avoids the huge binomials of the ratio. maj@k (self-consistency, Wang et al. 2022, used for
R1's "cons@64") scores a problem correct when the most frequent answer among its first ``k`` samples is right;
a tie goes to the tied answer that appears first in sample order. Where many different answers are right
(countdown expressions), the caller gives all valid ones one vote key (:func:`majority_is_correct`).

Intervals: a proportion gets the Wilson score interval (Wilson 1927), which, unlike the normal approximation,
stays inside [0, 1] and is sensible at 0/n and n/n. A mean of non-binary values (lengths, shares) gets a
percentile bootstrap interval (Efron 1979), deterministic for a given seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

__all__ = [
    "Estimate",
    "bootstrap_interval",
    "maj_at_k",
    "majority_is_correct",
    "majority_vote",
    "mean_estimate",
    "mean_pass_at_k",
    "pass_at_k",
    "proportion",
    "wilson_interval",
]

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def _check_count(name: str, value: object) -> int:
    # bool is an int subclass; True as a count is almost always a bug upstream.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``n`` samples, ``c`` of them correct (Chen et al. 2021).

    The chance that at least one of ``k`` samples drawn without replacement from the ``n`` is correct.
    Raises ``ValueError`` for ``k < 1``, ``k > n``, ``c > n`` or negative counts.

    >>> round(pass_at_k(10, 3, 1), 4)  # = c / n for k = 1
    0.3
    >>> round(pass_at_k(10, 3, 5), 4)  # 1 - C(7,5)/C(10,5) = 1 - 21/252
    0.9167
    >>> pass_at_k(4, 2, 3)  # any 3 of 4 include a correct one
    1.0
    """
    _check_count("n", n)
    _check_count("c", c)
    _check_count("k", k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > n:
        raise ValueError(
            f"k={k} exceeds the number of samples n={n}: sample at least k completions per problem"
        )
    if c > n:
        raise ValueError(f"c={c} correct samples exceed n={n} samples")
    if n - c < k:
        return 1.0  # every k-subset contains a correct sample
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """Mean pass@k over problems given as ``(n_i, c_i)`` pairs (samples, correct samples).

    >>> mean_pass_at_k([(4, 0), (4, 4), (4, 1)], k=1)
    0.4166666666666667
    """
    if len(counts) == 0:
        raise ValueError("mean_pass_at_k needs at least one problem, got an empty list")
    total = 0.0
    for i, pair in enumerate(counts):
        try:
            n, c = pair
        except (TypeError, ValueError):
            raise ValueError(f"problem {i}: expected an (n, c) pair, got {pair!r}") from None
        try:
            total += pass_at_k(n, c, k)
        except (TypeError, ValueError) as err:
            raise type(err)(f"problem {i}: {err}") from None
    return total / len(counts)


def _clean(answer: str | None) -> str | None:
    if answer is None:
        return None
    if not isinstance(answer, str):
        raise TypeError(f"answers must be str or None, got {answer!r} ({type(answer).__name__})")
    answer = answer.strip()
    return answer or None


def majority_vote(answers: Sequence[str | None]) -> str | None:
    """The most frequent answer, ignoring ``None`` (no answer extracted) and blank strings.

    Answers are compared after stripping surrounding whitespace only: normalize them beforehand (e.g. with the
    answer extractor of the ``rewards`` package) so that ``"42"`` and ``"42.0"`` vote together.

    Tie rule: among answers tied for the highest count, the one whose first occurrence comes earliest in
    sample order wins. This makes the vote deterministic and independent of hash order. Returns ``None``
    when no sample has an answer.

    >>> majority_vote(["7", None, "3", "3", "7"])  # 7 and 3 tie at 2 votes; 7 appeared first
    '7'
    >>> majority_vote([None, " 5 ", "5", "6"])
    '5'
    >>> majority_vote([None, None]) is None
    True
    """
    counts: dict[str, int] = {}  # dicts keep insertion order = order of first appearance
    for answer in answers:
        cleaned = _clean(answer)
        if cleaned is not None:
            counts[cleaned] = counts.get(cleaned, 0) + 1
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a, n in counts.items() if n == best)


def majority_is_correct(votes: Sequence[str | None], correct: Sequence[float | bool]) -> bool:
    """Whether the majority vote over ``votes`` lands on a correct sample.

    ``votes[i]`` is what sample ``i`` votes for (``None``: no answer, no vote) and ``correct[i]`` whether that
    sample was scored right by the task's own reward. The winner is :func:`majority_vote` (ties: earliest first
    appearance); its correctness is that of the first sample that cast it. Unlike :func:`maj_at_k` this needs no
    gold string, so it also works for tasks where many different answers are right (countdown): give their
    correct samples one shared vote key and the class of valid solutions competes as one answer.

    >>> majority_is_correct(["x", "y", "y"], [0.0, 1.0, 1.0])
    True
    >>> majority_is_correct(["x", "y", "y", "x"], [0.0, 1.0, 1.0, 0.0])  # tie: "x" appeared first
    False
    >>> majority_is_correct([None, None], [0.0, 0.0])  # no answer at all
    False
    """
    if len(votes) != len(correct):
        raise ValueError(f"got {len(votes)} votes but {len(correct)} correctness flags: one per sample")
    winner = majority_vote(votes)
    if winner is None:
        return False
    first = next(i for i, v in enumerate(votes) if _clean(v) == winner)
    return bool(correct[first])


def maj_at_k(
    answers_per_problem: Sequence[Sequence[str | None]],
    golds: Sequence[str],
    k: int,
    equal: Callable[[str, str], bool] | None = None,
) -> float:
    """maj@k: the share of problems whose majority answer over the first ``k`` samples is correct.

    ``equal(pred, gold)`` decides correctness (defaults to string equality after stripping whitespace); it is
    not used to group votes, see :func:`majority_vote`. A problem with no answer in its first ``k`` samples
    counts as wrong.

    >>> maj_at_k([["1", "2", "2"], ["5", None, None]], golds=["2", "5"], k=3)
    1.0
    >>> maj_at_k([["1", "2", "2"], ["5", None, None]], golds=["2", "5"], k=1)
    0.5
    """
    _check_count("k", k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if len(answers_per_problem) != len(golds):
        raise ValueError(
            f"got answers for {len(answers_per_problem)} problems but {len(golds)} gold answers: one gold per problem"
        )
    if len(golds) == 0:
        raise ValueError("maj_at_k needs at least one problem, got none")
    if equal is None:

        def equal(pred: str, gold: str) -> bool:
            return pred == gold.strip()

    correct = 0
    for i, (answers, gold) in enumerate(zip(answers_per_problem, golds)):
        if not isinstance(gold, str):
            raise TypeError(f"problem {i}: gold answer must be a str, got {gold!r} ({type(gold).__name__})")
        if len(answers) < k:
            raise ValueError(f"problem {i} has {len(answers)} samples, fewer than k={k}")
        vote = majority_vote(answers[:k])
        correct += vote is not None and bool(equal(vote, gold))
    return correct / len(golds)


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n`` (default: 95%).

    Returns ``(0.0, 1.0)`` for ``n == 0``: with no trials nothing is known.

    >>> tuple(round(x, 4) for x in wilson_interval(8, 10))
    (0.4902, 0.9433)
    >>> tuple(round(x, 4) for x in wilson_interval(0, 10))
    (0.0, 0.2775)
    """
    _check_count("successes", successes)
    _check_count("n", n)
    if successes > n:
        raise ValueError(f"successes={successes} exceed n={n}")
    if not (z > 0 and math.isfinite(z)):
        raise ValueError(f"z must be a positive finite number, got {z!r}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # The bounds are exactly 0 / 1 at the extremes; pin them to avoid -1e-17 style rounding.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return low, high


def _check_values(values: Sequence[float]) -> list[float]:
    if len(values) == 0:
        raise ValueError("need at least one value, got an empty list")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"value {i} must be a number, got {v!r} ({type(v).__name__})")
        if not math.isfinite(v):
            raise ValueError(f"value {i} is not finite ({v!r}): drop or fix it before averaging")
        out.append(float(v))
    return out


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    # Linear interpolation between order statistics (numpy's default "linear" method).
    pos = q * (len(sorted_xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (pos - lo) * (sorted_xs[hi] - sorted_xs[lo])


def bootstrap_interval(
    values: Sequence[float], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap ``1 - alpha`` interval for the mean of ``values``; same seed, same interval.

    Resamples ``values`` with replacement ``n_boot`` times and takes the ``alpha/2`` and ``1 - alpha/2``
    quantiles of the resampled means. A single value (or all-equal values) gives a zero-width interval.

    >>> bootstrap_interval([3.0, 3.0, 3.0])
    (3.0, 3.0)
    >>> low, high = bootstrap_interval([1.0, 2.0, 3.0, 4.0, 5.0], seed=1)
    >>> low < 3.0 < high
    True
    """
    xs = _check_values(values)
    _check_count("n_boot", n_boot)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    rng = random.Random(seed)  # private generator: no global state touched, reproducible per seed
    n = len(xs)
    means = sorted(math.fsum(rng.choices(xs, k=n)) / n for _ in range(n_boot))
    return _quantile(means, alpha / 2), _quantile(means, 1 - alpha / 2)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% interval and sample size; ``n == 0`` means nothing was measured.

    >>> str(Estimate(0.412, 0.371, 0.455, 500))
    '0.412 [0.371, 0.455] (n=500)'
    >>> str(Estimate(0.0, 0.0, 1.0, 0))
    '- (n=0)'
    """

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        """Plain dict for JSON: ``{"value", "low", "high", "n"}``.

        With ``n == 0`` (nothing measured) and for non-finite bounds the numbers are ``None`` (JSON ``null``):
        strict JSON has no NaN, and a 0.0 would read as a measured zero.

        >>> Estimate(0.0, 0.0, 1.0, 0).to_dict()
        {'value': None, 'low': None, 'high': None, 'n': 0}
        """
        out = asdict(self)
        for key in ("value", "low", "high"):
            if self.n == 0 or not math.isfinite(out[key]):
                out[key] = None
        return out

    def __str__(self) -> str:
        if self.n == 0:
            return "- (n=0)"  # nothing to measure, e.g. no completion had words to classify
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return f"{self.value:.3f} (n={self.n})"  # a point value without an interval (the median)
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def proportion(successes: int, n: int) -> Estimate:
    """A rate with its Wilson 95% interval. For ``n == 0`` the value is 0.0 and the interval (0, 1), but the
    estimate prints as ``-`` and saves as ``null`` (see :class:`Estimate`).

    >>> str(proportion(8, 10))
    '0.800 [0.490, 0.943] (n=10)'
    """
    low, high = wilson_interval(successes, n)
    return Estimate(value=successes / n if n else 0.0, low=low, high=high, n=n)


def mean_estimate(values: Sequence[float], seed: int = 0) -> Estimate:
    """A mean with its percentile-bootstrap 95% interval (1000 resamples).

    >>> str(mean_estimate([10, 10, 10]))
    '10.000 [10.000, 10.000] (n=3)'
    """
    xs = _check_values(values)
    low, high = bootstrap_interval(xs, seed=seed)
    return Estimate(value=math.fsum(xs) / len(xs), low=low, high=high, n=len(xs))
