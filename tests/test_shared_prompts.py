"""Micro-batches that share one prefill of their prompts (minirl.grpo.SharedPrompts) give the one-batch log-probs and
gradients, for each loss type, with and without the chunked head and gradient checkpointing."""

from __future__ import annotations

import pytest
import torch

from minirl.grpo import LOSS_TYPES, LossParams, SharedPrompts, grouped_completion_logprobs, grpo_loss
from minirl.grpo.normalize import minibatch_normalizer
from minirl.testing import make_tiny_model
from tests.test_grpo_prefix import _batch

ADV = torch.tensor([1.0, -0.5, 0.2, -1.0, 0.3, 0.9])  # [N]


def _normalizer(params, mask):
    return minibatch_normalizer(params.loss_type, mask, mask.shape[1], lambda v: v, 1)


def _one_batch(model, p_ids, p_mask, comp, mask, gi, params, chunk):
    lp, ent = grouped_completion_logprobs(model, p_ids, p_mask, comp, mask, gi, 0.7, True, chunk)
    out = grpo_loss(lp, None, None, ADV, mask, params, normalizer=_normalizer(params, mask))
    out.loss.backward()
    return lp.detach(), ent, out.loss.item()


def _micro_batched(model, p_ids, p_mask, comp, mask, gi, params, chunk, parts):
    normalizer = _normalizer(params, mask)
    shared = SharedPrompts(model, p_ids, p_mask, chunk)
    lps, ents, total = [], [], 0.0
    for idx in parts:
        lp, ent = shared.logprobs(comp[idx], mask[idx], gi[idx], 0.7, True)
        out = grpo_loss(lp, None, None, ADV[idx], mask[idx], params, normalizer=normalizer)
        out.loss.backward()
        lps.append(lp.detach())
        ents.append(ent)
        total += out.loss.item()
    shared.backward()
    return torch.cat(lps), torch.cat(ents), total


def _grads(model):
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("chunk", [None, 4], ids=["full-logits", "chunked-head"])
@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "checkpointed"])
@pytest.mark.parametrize("shared", [False, True], ids=["own-prompts", "common-prefix"])
def test_micro_batches_on_one_prefill_equal_one_batch(
    tiny_tokenizer, loss_type, chunk, checkpointing, shared
):
    p_ids, p_mask, comp, mask, gi = _batch(tiny_tokenizer, shared=shared)
    model = make_tiny_model(len(tiny_tokenizer), seed=0).train()
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    params = LossParams(loss_type)
    lp_ref, ent_ref, loss_ref = _one_batch(model, p_ids, p_mask, comp, mask, gi, params, chunk)
    ref = _grads(model)
    # groups split across micro-batches (rows 2-3 belong to different prompts), and a one-row micro-batch
    parts = [torch.tensor([0, 1, 2]), torch.tensor([3]), torch.tensor([4, 5])]
    lp, ent, loss = _micro_batched(model, p_ids, p_mask, comp, mask, gi, params, chunk, parts)
    got = _grads(model)
    torch.testing.assert_close(lp, lp_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ent, ent_ref, atol=1e-5, rtol=1e-5)
    assert loss == pytest.approx(loss_ref, rel=1e-5, abs=1e-6)
    assert got.keys() == ref.keys()
    assert any(
        ref["model.embed_tokens.weight"][t].abs().sum() > 0 for t in p_ids[0].tolist()
    )  # prompts get grads
    for name in ref:
        torch.testing.assert_close(got[name], ref[name], atol=1e-5, rtol=1e-4, msg=name)


def test_without_gradient_it_is_a_reused_prefill(tiny_tokenizer):
    """The frozen log-probs (no grad): the same values, nothing left to back-propagate."""
    p_ids, p_mask, comp, mask, gi = _batch(tiny_tokenizer, shared=True)
    model = make_tiny_model(len(tiny_tokenizer), seed=0).eval()
    with torch.no_grad():
        ref, _ = grouped_completion_logprobs(model, p_ids, p_mask, comp, mask, gi, 0.7)
        shared = SharedPrompts(model, p_ids, p_mask)
        got = torch.cat([shared.logprobs(comp[i], mask[i], gi[i], 0.7)[0] for i in torch.arange(6).split(4)])
        shared.backward()
    torch.testing.assert_close(got, ref, atol=1e-6, rtol=1e-6)
    assert not shared.grad and all(p.grad is None for p in model.parameters())


def test_the_shared_cache_is_not_changed_by_a_micro_batch(tiny_tokenizer):
    p_ids, p_mask, comp, mask, gi = _batch(tiny_tokenizer, shared=True)
    model = make_tiny_model(len(tiny_tokenizer), seed=0)
    with torch.no_grad():
        shared = SharedPrompts(model, p_ids, p_mask)
        widths = [layer.keys.shape for layer in shared.prefilled.cache.layers]
        first, _ = shared.logprobs(comp[:2], mask[:2], gi[:2], 0.7)
        again, _ = shared.logprobs(comp[:2], mask[:2], gi[:2], 0.7)
    assert [layer.keys.shape for layer in shared.prefilled.cache.layers] == widths
    torch.testing.assert_close(first, again, atol=0, rtol=0)
