"""The shared-prompt log-prob path equals the plain prompt+completion forward, values and gradients."""

from __future__ import annotations

import pytest
import torch

from minirl.grpo import LossParams, completion_logprobs, grouped_completion_logprobs, grpo_loss

SYSTEM = "You are a careful assistant; think, then answer. "  # a common prefix of many tokens


def _batch(tok, g=3, shared: bool = False):
    prompts = ["short", "a much longer prompt"]
    if shared:
        prompts = [SYSTEM + p for p in prompts]
    enc = tok(prompts, return_tensors="pt", padding=True)  # left padding
    gen = torch.Generator().manual_seed(0)
    n, c = len(prompts) * g, 7
    comp = torch.randint(3, 200, (n, c), generator=gen)
    lengths = torch.tensor([7, 3, 5, 1, 6, 7])
    mask = (torch.arange(c).unsqueeze(0) < lengths.unsqueeze(1)).long()  # [N, C]
    comp = comp.masked_fill(mask == 0, tok.pad_token_id)
    group_index = torch.arange(len(prompts)).repeat_interleave(g)
    return enc["input_ids"], enc["attention_mask"], comp, mask, group_index


@pytest.mark.parametrize("shared", [False, True], ids=["own-prompts", "common-prefix"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_grouped_equals_plain_forward(tiny_model, tiny_tokenizer, temperature, shared):
    """With ``shared``, the prompts' common prefix (the system prompt) runs once (minirl.prefill)."""
    p_ids, p_mask, comp, mask, gi = _batch(tiny_tokenizer, shared=shared)
    if shared:
        from minirl.prefill import MIN_SHARED, common_prefix_length

        rows = [r[m.bool()].tolist() for r, m in zip(p_ids, p_mask)]
        assert common_prefix_length(rows) >= MIN_SHARED  # the shared path really runs
    ids = torch.cat([p_ids.index_select(0, gi), comp], dim=1)
    attn = torch.cat([p_mask.index_select(0, gi), mask], dim=1)
    adv = torch.tensor([1.0, -0.5, 0.2, -1.0, 0.3, 0.9])

    lp_ref, ent_ref = completion_logprobs(
        tiny_model, ids, attn, comp.shape[1], temperature, compute_entropy=True
    )
    loss_ref = grpo_loss(lp_ref, None, None, adv, mask, LossParams("dapo")).loss
    loss_ref.backward()
    grads_ref = {n: p.grad.clone() for n, p in tiny_model.named_parameters()}
    tiny_model.zero_grad()

    lp, ent = grouped_completion_logprobs(
        tiny_model, p_ids, p_mask, comp, mask, gi, temperature, compute_entropy=True
    )
    loss = grpo_loss(lp, None, None, adv, mask, LossParams("dapo")).loss
    loss.backward()

    torch.testing.assert_close(lp, lp_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ent, ent_ref, atol=1e-5, rtol=1e-5)
    for name, p in tiny_model.named_parameters():
        torch.testing.assert_close(p.grad, grads_ref[name], atol=1e-5, rtol=1e-4, msg=name)


def test_shape_mismatch_is_explained(tiny_model, tiny_tokenizer):
    p_ids, p_mask, comp, mask, gi = _batch(tiny_tokenizer)
    with pytest.raises(ValueError, match="group_index"):
        grouped_completion_logprobs(tiny_model, p_ids, p_mask, comp, mask, gi[:-1])
