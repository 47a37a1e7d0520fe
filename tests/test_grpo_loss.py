"""The clipped GRPO loss (minirl.grpo.loss) and the completion log-probs it consumes (minirl.grpo.logprobs)."""

from __future__ import annotations

import math

import pytest
import torch

from minirl.grpo import LossParams, completion_logprobs, grpo_loss, loss_denominator, selective_log_softmax

EPS_LOW, EPS_HIGH = 0.2, 0.28
# Row 0 has A = +1 and ratios [1.5, 0.9, 1.0]; row 1 has A = -1, ratios [0.5, 1.1, -] (last token is padding).
RATIOS = torch.tensor([[1.5, 0.9, 1.0], [0.5, 1.1, 1.0]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])
ADV = torch.tensor([1.0, -1.0])
# Per-token loss -min(r A, clip(r) A):
#   row 0: 1.5 -> clipped at 1.28 -> -1.28 ; 0.9 -> -0.9 ; 1.0 -> -1.0
#   row 1: 0.5 -> clipped at 0.8  -> +0.8  ; 1.1 -> +1.1
ROW0, ROW1 = [-1.28, -0.9, -1.0], [0.8, 1.1]


def _loss(loss_type, normalizer=None, **kwargs):
    logps = torch.zeros(2, 3, requires_grad=True)
    old = -RATIOS.log()  # so that exp(logps - old) = RATIOS
    params = LossParams(loss_type, **{"epsilon_low": EPS_LOW, "epsilon_high": EPS_HIGH, **kwargs})
    out = grpo_loss(logps, old, None, ADV, MASK, params, normalizer=normalizer)
    out.loss.backward()
    return out, logps.grad


def test_grpo_is_mean_of_sequence_means():
    out, _ = _loss("grpo")
    assert out.loss.item() == pytest.approx((sum(ROW0) / 3 + sum(ROW1) / 2) / 2, rel=1e-6)  # -0.055


def test_dapo_is_token_mean():
    out, grad = _loss("dapo")
    assert out.loss.item() == pytest.approx((sum(ROW0) + sum(ROW1)) / 5, rel=1e-6)  # -0.256
    # clipped tokens get no gradient; the others get -r A / 5; padding gets none
    expected = torch.tensor([[0.0, -0.9 / 5, -1.0 / 5], [0.0, 1.1 / 5, 0.0]])
    torch.testing.assert_close(grad, expected)


def test_dapo_normalizer_overrides_denominator():  # TRL's num_items_in_batch
    out, _ = _loss("dapo", normalizer=10)
    assert out.loss.item() == pytest.approx((sum(ROW0) + sum(ROW1)) / 10, rel=1e-6)
    out, _ = _loss("dapo", normalizer=torch.tensor(10))
    assert out.loss.item() == pytest.approx((sum(ROW0) + sum(ROW1)) / 10, rel=1e-6)


def test_dr_grpo_divides_by_constant():
    out, _ = _loss("dr_grpo", normalizer=loss_denominator("dr_grpo", MASK, 4))
    assert out.loss.item() == pytest.approx((sum(ROW0) + sum(ROW1)) / (2 * 4), rel=1e-6)  # -0.16


def test_clip_metrics_on_constructed_case():
    out, _ = _loss("dapo")
    m = out.metrics
    assert m["clip_ratio/low_mean"] == pytest.approx(1 / 5)  # token (1, 0): r = 0.5 < 0.8 with A < 0
    assert m["clip_ratio/high_mean"] == pytest.approx(1 / 5)  # token (0, 0): r = 1.5 > 1.28 with A > 0
    assert m["clip_ratio/region_mean"] == pytest.approx(2 / 5)
    assert m["num_tokens"] == 5
    assert m["ratio/mean"] == pytest.approx((1.5 + 0.9 + 1.0 + 0.5 + 1.1) / 5, rel=1e-6)
    assert "kl" not in m


def test_clip_higher_changes_only_the_upper_bound():
    symmetric, _ = _loss("dapo", epsilon_high=EPS_LOW)  # the 1.5 token now clips at 1.2
    assert symmetric.loss.item() == pytest.approx((-1.2 - 0.9 - 1.0 + 0.8 + 1.1) / 5, rel=1e-6)


def test_on_policy_ratio_is_one_with_policy_gradient():
    logps = torch.tensor([[-1.0, -2.0], [-0.5, -3.0]], requires_grad=True)
    out = grpo_loss(logps, None, None, torch.tensor([2.0, -1.0]), torch.ones(2, 2), LossParams("dapo"))
    out.loss.backward()
    assert out.loss.item() == pytest.approx((-2 - 2 + 1 + 1) / 4)
    torch.testing.assert_close(logps.grad, torch.tensor([[-0.5, -0.5], [0.25, 0.25]]))
    assert out.metrics["clip_ratio/region_mean"] == 0


def test_kl_term_hand_computed():
    logps = torch.zeros(1, 2, requires_grad=True)
    ref = torch.tensor([[math.log(0.5), 0.0]])  # k3 = 0.5 - log 0.5 - 1 = 0.1931..., then 0
    kl0 = 0.5 - math.log(0.5) - 1
    out = grpo_loss(logps, None, ref, torch.zeros(1), torch.ones(1, 2), LossParams("dapo", beta=0.1))
    assert out.loss.item() == pytest.approx(0.1 * kl0 / 2, rel=1e-6)
    assert out.metrics["kl"] == pytest.approx(kl0 / 2, rel=1e-6)
    out.loss.backward()
    # d k3 / d logp = 1 - exp(ref - logp)
    torch.testing.assert_close(logps.grad, torch.tensor([[0.1 * (1 - 0.5) / 2, 0.0]]))


def test_kl_bias_correction_same_value_on_policy_different_gradient():
    ref = torch.tensor([[math.log(0.5), math.log(2.0)]])
    grads, losses = [], []
    for correct in (False, True):
        logps = torch.zeros(1, 2, requires_grad=True)
        params = LossParams(beta=0.1, use_bias_correction_kl=correct)
        out = grpo_loss(logps, None, ref, torch.zeros(1), torch.ones(1, 2), params)
        out.loss.backward()
        grads.append(logps.grad)
        losses.append(out.loss.item())
    assert losses[0] == pytest.approx(losses[1])
    kl = torch.tensor([[0.5 - math.log(0.5) - 1, 2.0 - math.log(2.0) - 1]])
    torch.testing.assert_close(grads[1] - grads[0], 0.1 * kl / 2)  # the extra k3 * grad(ratio) term


def test_beta_zero_needs_no_reference():
    out = grpo_loss(torch.zeros(2, 3, requires_grad=True), None, None, ADV, MASK, LossParams(beta=0.0))
    assert torch.isfinite(out.loss)


def test_delta_caps_the_unclipped_ratio():
    logps = torch.zeros(1, 1, requires_grad=True)
    old = torch.tensor([[-math.log(3.0)]])  # ratio 3 with a negative advantage: loss 3 unbounded
    free = grpo_loss(logps, old, None, torch.tensor([-1.0]), torch.ones(1, 1))
    capped = grpo_loss(logps, old, None, torch.tensor([-1.0]), torch.ones(1, 1), LossParams(delta=2.0))
    assert free.loss.item() == pytest.approx(3.0)
    assert capped.loss.item() == pytest.approx(2.0)


@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "dr_grpo"])
def test_empty_completion_gives_no_nan(loss_type):
    logps = torch.zeros(2, 2, requires_grad=True)
    mask = torch.tensor([[1, 1], [0, 0]])
    out = grpo_loss(
        logps, None, None, ADV, mask, LossParams(loss_type), normalizer=loss_denominator(loss_type, mask, 2)
    )
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(logps.grad).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"loss_type": "bnpo"}, "unknown loss_type 'bnpo'; valid: grpo, dapo, dr_grpo"),
        ({"loss_type": "dr_grpo"}, "needs max_completion_length"),
        ({"loss_type": "dr_grpo", "max_completion_length": 2}, "smaller than the completion width 3"),
        ({"beta": 0.04}, "needs ref_logps"),
        ({"beta": -1.0}, "beta must be >= 0"),
        ({"epsilon_low": 1.0}, "0 <= epsilon_low < 1"),
        ({"epsilon_high": -0.1}, "epsilon_high >= 0"),
        ({"delta": 1.1}, "delta must be > 1 \\+ epsilon_high"),
    ],
)
def test_invalid_options_raise(kwargs, match):
    kwargs = dict(kwargs)
    budget = kwargs.pop("max_completion_length", None)  # the generation budget goes in through the normalizer
    with pytest.raises(ValueError, match=match):
        params = LossParams(**kwargs)
        normalizer = None if budget is None else loss_denominator(params.loss_type, MASK, budget)
        grpo_loss(torch.zeros(2, 3), None, None, ADV, MASK, params, normalizer=normalizer)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (
            (torch.zeros(2, 3), torch.zeros(2, 2), None, ADV, MASK),
            r"old_logps must have the shape of logps \(2, 3\)",
        ),
        ((torch.zeros(2, 3), None, torch.zeros(3, 3), ADV, MASK), "ref_logps must have the shape"),
        ((torch.zeros(2, 3), None, None, ADV, torch.ones(2, 4)), "completion_mask must have the shape"),
        ((torch.zeros(2, 3), None, None, torch.zeros(3), MASK), r"advantages must be \[N\] = \[2\]"),
        ((torch.zeros(2, 3), None, None, torch.zeros(2, 3), MASK), r"advantages must be \[N\]"),
        ((torch.zeros(6), None, None, ADV, MASK), r"logps must be \[N, C\]"),
    ],
)
def test_invalid_shapes_raise(args, match):
    with pytest.raises(ValueError, match=match):
        grpo_loss(*args)


# ---------------------------------------------------------------------------------------------------------------------
# log-probs


def test_selective_log_softmax_matches_full_log_softmax():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 50, generator=gen) * 4  # [N, T, V]
    index = torch.randint(0, 50, (3, 5), generator=gen)  # [N, T]
    expected = torch.log_softmax(logits, dim=-1).gather(-1, index.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(selective_log_softmax(logits, index), expected)
    # bf16 logits: normalised in float32, returned as float32
    got = selective_log_softmax(logits.bfloat16(), index)
    assert got.dtype == torch.float32
    ref = torch.log_softmax(logits.bfloat16().float(), dim=-1).gather(-1, index.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(got, ref)
    with pytest.raises(ValueError, match=r"logits \[N, T, V\] and index \[N, T\]"):
        selective_log_softmax(logits, index[:, :2])


def test_completion_logprobs_scores_completion_tokens(tiny_model):
    ids = torch.tensor(
        [[0, 0, 40, 41, 42, 50, 51, 2, 0], [0, 40, 41, 42, 43, 60, 61, 62, 2]]
    )  # [N, P+C], P=5, C=4
    attn = (ids != 0).long()
    with torch.no_grad():
        logps, ent = completion_logprobs(tiny_model, ids, attn, 4, temperature=0.5, compute_entropy=True)
        full = tiny_model(input_ids=ids, attention_mask=attn).logits[:, -5:-1] / 0.5  # [N, C, V]
    logp_full = torch.log_softmax(full, dim=-1)  # [N, C, V]
    expected = logp_full.gather(-1, ids[:, -4:].unsqueeze(-1)).squeeze(-1)  # [N, C]
    real = attn[:, -4:].bool()
    torch.testing.assert_close(logps[real], expected[real])
    torch.testing.assert_close(ent[real], -(logp_full.exp() * logp_full).sum(-1)[real])
    assert logps[0, -1] == 0 and ent[0, -1] == 0  # padding is zeroed, as in TRL
    assert logps.requires_grad is False  # under no_grad


def test_completion_logprobs_ignore_left_padding(tiny_model):
    """With rotary positions, extra left padding must not change the scores (no position_ids are passed)."""
    short = torch.tensor([[40, 41, 42, 50, 51, 2]])
    padded = torch.tensor([[0, 0, 0, 40, 41, 42, 50, 51, 2]])
    with torch.no_grad():
        a, _ = completion_logprobs(tiny_model, short, torch.ones_like(short), 3)
        b, _ = completion_logprobs(tiny_model, padded, (padded != 0).long(), 3)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_completion_logprobs_gradient_flows(tiny_model):
    ids = torch.tensor([[40, 41, 50, 51]])
    logps, ent = completion_logprobs(tiny_model, ids, torch.ones_like(ids), 2)
    assert ent is None
    logps.sum().backward()
    assert tiny_model.lm_head.weight.grad is not None


@pytest.mark.parametrize(
    ("keep", "kwargs", "match"),
    [
        (0, {}, r"logits_to_keep must be in \[1, 3\]"),
        (4, {}, "logits_to_keep must be in"),
        (2, {"temperature": 0.0}, "temperature must be > 0"),
        (2, {"attention_mask": torch.ones(1, 3)}, "same shape"),
    ],
)
def test_completion_logprobs_bad_input(tiny_model, keep, kwargs, match):
    ids = torch.tensor([[40, 41, 50, 51]])
    attn = kwargs.pop("attention_mask", torch.ones_like(ids))
    with pytest.raises(ValueError, match=match):
        completion_logprobs(tiny_model, ids, attn, keep, **kwargs)


# ------------------------------------------------------------------------ one normaliser for micro-batches and DDP
@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "dr_grpo"])
@pytest.mark.parametrize("split", [[1, 3], [2, 2], [3, 1]])
def test_parts_with_the_minibatch_normalizer_add_up_to_the_whole(loss_type, split):
    """Simulated DDP: processes of uneven rows and tokens, gradients averaged, equal the single-process gradient;
    the same normaliser on micro-batches of one process adds up too."""
    from minirl.grpo import minibatch_normalizer

    torch.manual_seed(0)
    old = torch.randn(4, 5)
    adv = torch.tensor([1.0, -0.5, 0.3, -0.8])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 0, 0]])

    def grad(rows, normalizer=None):
        logps = (old + 0.1).clone().requires_grad_(True)  # off-policy: ratios differ from 1
        if normalizer is None:
            normalizer = loss_denominator(loss_type, mask[rows], 5)  # the part's own
        out = grpo_loss(logps[rows], old[rows], None, adv[rows], mask[rows], LossParams(loss_type),
                        normalizer=normalizer)  # fmt: skip
        out.loss.backward()
        return logps.grad, out.loss.detach()

    whole, whole_loss = grad(slice(None))
    parts = [slice(0, split[0]), slice(split[0], 4)]
    world_sum = sum(minibatch_normalizer(loss_type, mask[p], 5) for p in parts)  # what the reduce returns
    ddp = [
        grad(p, minibatch_normalizer(loss_type, mask[p], 5, lambda t: world_sum, num_processes=2))
        for p in parts
    ]
    assert torch.allclose((ddp[0][0] + ddp[1][0]) / 2, whole, atol=1e-7)  # DDP averages gradients
    assert float(ddp[0][1] + ddp[1][1]) / 2 == pytest.approx(float(whole_loss), abs=1e-7)
    norm = minibatch_normalizer(loss_type, mask, 5)
    accum = [grad(p, norm) for p in parts]
    assert torch.allclose(accum[0][0] + accum[1][0], whole, atol=1e-7)
    assert float(accum[0][1] + accum[1][1]) == pytest.approx(float(whole_loss), abs=1e-7)


def test_batch_scaled_advantages_use_the_whole_batch_std():
    from minirl.grpo import compute_advantages

    rewards = torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0, 5.0, 2.0, 2.0])  # two groups of 4: one per "process"
    whole = compute_advantages(rewards, 4, scale="batch")
    parts = [rewards[:4], rewards[4:]]
    calls = iter([torch.tensor([8.0, float(rewards.sum())], dtype=torch.float64)] + [None])

    def world_sum(t):  # first call: [count, sum]; second: the squared deviations over both parts
        first = next(calls)
        if first is not None:
            return first
        mean = rewards.double().mean()
        return ((rewards.double() - mean) ** 2).sum()

    ddp0 = compute_advantages(parts[0], 4, scale="batch", sum_over_processes=world_sum)
    assert torch.allclose(ddp0, whole[:4], atol=1e-6)
    assert not torch.allclose(compute_advantages(parts[0], 4, scale="batch"), whole[:4], atol=1e-3)
