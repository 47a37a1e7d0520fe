"""Group-relative advantages, zero-variance groups and None-aware reward sums (minirl.grpo.advantages)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minirl.grpo import compute_advantages, group_stats, rewards_to_tensor, zero_variance_groups

EPS = 1e-4
REWARDS = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0])  # 2 groups of G=4


def test_group_advantages_hand_computed():
    # group 1: mean 0.25, unbiased std sqrt((0.75^2 + 3 * 0.25^2) / 3) = 0.5; group 2: mean 0.5, std sqrt(1/3)
    s1, s2 = 0.5 + EPS, math.sqrt(1 / 3) + EPS
    expected = [0.75 / s1, -0.25 / s1, -0.25 / s1, -0.25 / s1, 0.5 / s2, 0.5 / s2, -0.5 / s2, -0.5 / s2]
    got = compute_advantages(REWARDS, 4)
    assert got.tolist() == pytest.approx(expected, rel=1e-6)


def test_none_scale_is_dr_grpo_difference():
    got = compute_advantages(REWARDS, 4, scale="none")
    assert got.tolist() == pytest.approx([0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5])


def test_batch_scale_uses_group_mean_and_batch_std():
    # batch mean 3/8, unbiased var (3 * (5/8)^2 + 5 * (3/8)^2) / 7 = 120 / 448
    std = math.sqrt(120 / 448) + EPS
    got = compute_advantages(REWARDS, 4, scale="batch")
    expected = [a / std for a in (0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5)]
    assert got.tolist() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_equal_rewards_give_zero_not_nan(scale):
    got = compute_advantages(torch.full((8,), 0.7), 4, scale=scale)
    assert torch.isfinite(got).all()
    assert got.abs().max() < 1e-5


def test_single_group():
    got = compute_advantages(torch.tensor([2.0, 0.0]), 2)
    std = math.sqrt(2.0) + EPS  # unbiased std of {2, 0}
    assert got.tolist() == pytest.approx([1 / std, -1 / std], rel=1e-6)


def test_group_stats_broadcast_per_completion():
    mean, std = group_stats(REWARDS, 4)
    assert mean.tolist() == [0.25] * 4 + [0.5] * 4
    assert std.tolist() == pytest.approx([0.5] * 4 + [math.sqrt(1 / 3)] * 4, rel=1e-6)


@pytest.mark.parametrize(
    ("rewards", "g", "match"),
    [
        (torch.zeros(6), 4, "not a positive multiple of num_generations=4"),
        (torch.zeros(4), 1, "num_generations must be >= 2"),
        (torch.zeros(0), 2, "not a positive multiple"),
        (torch.zeros(2, 2), 2, "1-D"),
        (torch.tensor([0.0, 1.0, float("nan"), 1.0]), 2, r"rewards\[2\] is NaN \(group 1\)"),
    ],
)
def test_invalid_rewards_raise(rewards, g, match):
    with pytest.raises(ValueError, match=match):
        compute_advantages(rewards, g)
    with pytest.raises(ValueError, match=match):
        zero_variance_groups(rewards, g)


def test_unknown_scale_raises():
    with pytest.raises(ValueError, match="scale must be one of"):
        compute_advantages(REWARDS, 4, scale="std")


def test_unscorable_rows_leave_the_baseline_and_get_zero():
    # row 2 is unscorable (every reward function returned None): the group is {1, 0, 1}, as in TRL's nan-aware stats
    rewards = torch.tensor([1.0, 0.0, float("nan"), 1.0])
    valid = torch.tensor([True, True, False, True])
    std = math.sqrt(1 / 3) + EPS
    got = compute_advantages(rewards, 4, valid=valid)
    assert got.tolist() == pytest.approx([(1 / 3) / std, (-2 / 3) / std, 0.0, (1 / 3) / std], rel=1e-6)
    # a group with a single scorable row has no baseline to compare with: all zeros, no NaN
    lonely = compute_advantages(torch.tensor([3.0, 0.0]), 2, valid=torch.tensor([True, False]))
    assert lonely.tolist() == [0.0, 0.0]


def test_zero_variance_groups():
    rewards = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.5 + 1e-7, 0.5, 0.5])
    assert zero_variance_groups(rewards, 4).tolist() == [True, False, True]
    assert zero_variance_groups(rewards, 4, tol=0.0).tolist() == [True, False, False]


def test_rewards_to_tensor_weighted_and_none_aware():
    per_func = [[1.0, None, None, 0.0], [0.5, 2.0, None, 0.0]]  # function-major: per_func[f][i]
    total, matrix = rewards_to_tensor(per_func, weights=[1.0, 0.5])
    assert total.tolist() == [1.25, 1.0, 0.0, 0.0]  # row 2: every function gave None -> 0
    assert matrix.shape == (4, 2)
    assert matrix.isnan().tolist() == [[False, False], [True, False], [True, True], [False, False]]
    assert matrix.isnan().all(dim=1).tolist() == [False, False, True, False]  # the "unscorable" flag


def test_rewards_to_tensor_skips_none_as_rewards_combine_does():
    """The trainer's weighted sum and ``rewards.combine`` follow one None rule (exact on these dyadic values)."""
    from rewards import combine

    per_func = [[1.0, None, None, 0.25], [0.5, 2.0, None, None]]
    funcs = [lambda completions, v=values, **kw: v for values in per_func]
    combined = combine(list(zip(funcs, [1.0, 0.5])))(["a"] * 4)
    total, matrix = rewards_to_tensor(per_func, weights=[1.0, 0.5])
    assert combined == [1.25, 1.0, None, 0.25]
    assert total.tolist() == [0.0 if c is None else c for c in combined]
    assert matrix.isnan().all(dim=1).tolist() == [c is None for c in combined]


def test_rewards_to_tensor_all_none():
    total, matrix = rewards_to_tensor([[None, None]], weights=[1.0])
    assert total.tolist() == [0.0, 0.0] and matrix.isnan().all()
    # and the flag turns into zero advantages
    assert compute_advantages(total, 2, valid=~matrix.isnan().all(dim=1)).tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("per_func", "weights", "match"),
    [
        ([[1.0], [1.0]], [1.0], "2 reward functions but 1 weights"),
        ([[1.0, 2.0], [1.0]], [1.0, 1.0], "reward function 1 gave 1 values"),
        ([[1.0, float("inf")]], [1.0], "completion 1"),
        ([], [], "at least one reward function"),
    ],
)
def test_rewards_to_tensor_bad_input(per_func, weights, match):
    with pytest.raises(ValueError, match=match):
        rewards_to_tensor(per_func, weights)


@settings(max_examples=50, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda g: st.tuples(
            st.just(g),
            st.lists(st.floats(-5, 5, allow_nan=False, width=32), min_size=g, max_size=4 * g).map(
                lambda xs, g=g: xs[: len(xs) // g * g]
            ),
        )
    )
)
def test_properties_group_centered_and_unit_std(case):
    g, values = case
    rewards = torch.tensor(values)
    centered = compute_advantages(rewards, g, scale="none").view(-1, g)  # [B, G]
    assert centered.sum(dim=1).abs().max() < 1e-4  # the group mean is the baseline
    scaled = compute_advantages(rewards, g).view(-1, g)  # [B, G]
    std = rewards.view(-1, g).std(dim=1)  # [B]
    assert torch.allclose(scaled, centered / (std[:, None] + EPS), atol=1e-5)
