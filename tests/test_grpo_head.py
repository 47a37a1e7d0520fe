"""Log-probs without the full logits (minirl.grpo.head) and under gradient checkpointing equal the plain path,
values and gradients, on the tiny model."""

from __future__ import annotations

import pytest
import torch
from test_grpo_prefix import _batch

from minirl.grpo import LossParams, completion_logprobs, grouped_completion_logprobs, grpo_loss
from minirl.grpo.head import head_logprobs, hidden_states_out
from minirl.testing import make_tiny_model

ADV = torch.tensor([1.0, -0.5, 0.2, -1.0, 0.3, 0.9])


def _loss_and_grads(model, fn):
    """``fn(model) -> (logps, entropy, mask)``; returns logps, entropy and every parameter's gradient of a GRPO loss
    plus 0.1 x the summed entropy (so the entropy's gradient is checked too)."""
    model.zero_grad()
    lp, ent, mask = fn(model)
    loss = grpo_loss(lp, None, None, ADV, mask, LossParams("dapo")).loss
    (loss + 0.1 * (ent * mask).sum()).backward() if ent.requires_grad else loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return lp.detach(), ent.detach(), grads


def _assert_same(a, b):
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a[1], b[1], atol=1e-5, rtol=1e-5)
    assert set(a[2]) == set(b[2])
    for name in a[2]:
        torch.testing.assert_close(a[2][name], b[2][name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("chunk", [1, 4, 256])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_chunked_head_equals_full_logits(tiny_tokenizer, chunk, temperature):
    p_ids, p_mask, comp, mask, gi = _batch(tiny_tokenizer, shared=True)
    ids = torch.cat([p_ids.index_select(0, gi), comp], dim=1)
    attn = torch.cat([p_mask.index_select(0, gi), mask], dim=1)
    model = make_tiny_model(len(tiny_tokenizer), seed=0)

    def run(chunk_, grouped):
        def fn(m):
            if grouped:
                lp, ent = grouped_completion_logprobs(
                    m, p_ids, p_mask, comp, mask, gi, temperature, True, chunk_
                )
            else:
                lp, ent = completion_logprobs(m, ids, attn, comp.shape[1], temperature, True, chunk_)
            return lp, ent, mask

        return _loss_and_grads(model, fn)

    full = run(None, grouped=False)
    _assert_same(run(chunk, grouped=False), full)
    _assert_same(run(chunk, grouped=True), full)


def test_head_gradient_reaches_the_entropy_too():
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 20)
    hidden = torch.randn(2, 4, 6, requires_grad=True)
    targets, mask = torch.randint(0, 20, (2, 4)), torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    weights = torch.randn(2, 4)

    lp, ent = head_logprobs(hidden, head, targets, mask, temperature=0.8, chunk=3)
    ((lp + ent) * weights).sum().backward()
    chunked = (hidden.grad.clone(), head.weight.grad.clone(), head.bias.grad.clone())
    hidden.grad, head.weight.grad, head.bias.grad = None, None, None

    logp = torch.log_softmax(head(hidden) / 0.8, dim=-1)  # [2, 4, 20]
    lp2 = logp.gather(-1, targets[..., None]).squeeze(-1) * mask
    ent2 = -(logp.exp() * logp).sum(-1) * mask
    ((lp2 + ent2) * weights).sum().backward()
    for got, want in zip(chunked, (hidden.grad, head.weight.grad, head.bias.grad)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_hidden_states_out_restores_the_head_after_an_error():
    model = make_tiny_model(vocab_size=16)
    head = model.get_output_embeddings()
    with pytest.raises(RuntimeError, match="boom"), hidden_states_out(model):
        assert isinstance(model.get_output_embeddings(), torch.nn.Identity)
        raise RuntimeError("boom")
    assert model.get_output_embeddings() is head


@pytest.mark.parametrize("shared", [False, True], ids=["own-prompts", "common-prefix"])
@pytest.mark.parametrize("chunk", [None, 4])
def test_gradient_checkpointing_with_the_shared_prompt_gives_equal_gradients(tiny_tokenizer, shared, chunk):
    """The crash of issue 33 (``NoneType`` has no ``batch_repeat_interleave``) came from here: transformers drops
    the KV cache of a checkpointed layer. The prompts are prefilled without checkpointing and the completion
    forward reads a read-only cache, so the recompute sees the same keys and values."""
    p_ids, p_mask, comp, mask, gi = _batch(tiny_tokenizer, shared=shared)
    model = make_tiny_model(len(tiny_tokenizer), seed=0).train()

    def fn(m):
        lp, ent = grouped_completion_logprobs(m, p_ids, p_mask, comp, mask, gi, 0.7, True, chunk)
        return lp, ent, mask

    plain = _loss_and_grads(model, fn)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    assert model.model.gradient_checkpointing
    checkpointed = _loss_and_grads(model, fn)
    _assert_same(checkpointed, plain)
    assert all(m.gradient_checkpointing for m in model.model.layers)  # flags restored after the prefill
    assert not any("_can_checkpoint_with_cache" in vars(m) for m in model.model.layers)
