"""The LM head in chunks: token log-probs and entropies without the ``[N, C, V]`` logits.

GRPO's ratio needs, for each completion token o_t, only ``log pi(o_t | q, o_<t)`` (DeepSeekMath arXiv:2402.03300,
eq. 3). Computing it as ``log_softmax(h W^T / T)[o_t]`` through the model's own head builds the logits of every
position over the whole vocabulary (49,152 for SmolLM2: 64 completions x 40 tokens are 0.5 GB in fp32), keeps them
for the backward pass and builds their gradient of the same size there. :class:`ChunkedHeadLogprobs` instead takes
the final hidden states ``h`` and runs the head over a few hundred tokens at a time:

- forward: ``z = h_c W^T / T`` for one chunk of tokens, ``log p = z[o] - logsumexp(z)`` and the entropy
  ``H = logsumexp(z) - sum softmax(z) z``; only ``h`` is kept for the backward pass;
- backward: ``z`` is recomputed chunk by chunk, and with ``dlogp/dz = onehot(o) - softmax(z)`` and
  ``dH/dz = -softmax(z) (z - sum softmax(z) z)`` (the entropy gets a gradient too, as with the full logits):
  ``dz = g_logp (onehot - p) + g_H dH/dz``, ``dh = dz W / T``, ``dW = dz^T h / T``.

So at most one ``[chunk, V]`` block of logits exists at a time, and only at the tokens that are real (padding is
skipped, which also saves its share of the head's work). The price is one more head product per token in the backward
pass. Values and gradients equal those of the full logits up to float summation order
(``tests/test_grpo_head.py``). This is what TRL (1.15+) does with its fused, tiled LM head; Liger's fused linear
cross-entropy is the same idea. Departure: the head runs in float32 (TRL's ``cast_lm_head_to_fp32``), also under
bf16 autocast on a GPU.

:func:`hidden_states_out` makes a ``transformers`` causal LM return its final hidden states in place of logits (its
output embedding is swapped for an identity for the duration), so the forward still goes through the model itself,
and through any DDP or accelerate wrapper around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

CHUNK_TOKENS = 256
"""Tokens whose logits exist at once (a ``[256, 49152]`` fp32 block is 50 MB)."""


def _chunk_logits(hidden: Tensor, weight: Tensor, bias: Tensor | None, temperature: float) -> Tensor:
    """``(h W^T + b) / T`` in float32. [c, V]"""
    z = hidden.float() @ weight.float().t()  # [c, V]
    if bias is not None:
        z = z + bias.float()
    return z / temperature if temperature != 1.0 else z


class ChunkedHeadLogprobs(torch.autograd.Function):
    """``(logps [M], entropy [M])`` of tokens ``targets [M]`` from hidden states ``hidden [M, H]`` and the head
    ``weight [V, H]`` (+ ``bias [V]``) at ``temperature``, ``chunk`` tokens at a time (see the module docstring)."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, temperature, chunk):
        m = hidden.shape[0]
        logps = hidden.new_empty(m, dtype=torch.float32)  # [M]
        entropy = hidden.new_empty(m, dtype=torch.float32)  # [M]
        for s in range(0, m, chunk):
            z = _chunk_logits(hidden[s : s + chunk], weight, bias, temperature)  # [c, V]
            lse = torch.logsumexp(z, dim=-1)  # [c]
            logps[s : s + chunk] = z.gather(-1, targets[s : s + chunk, None]).squeeze(-1) - lse
            entropy[s : s + chunk] = lse - (torch.softmax(z, dim=-1) * z).sum(-1)
        ctx.save_for_backward(hidden, weight, bias, targets)
        ctx.temperature, ctx.chunk = temperature, chunk
        ctx.set_materialize_grads(False)  # an output that no loss uses gets None, not a block of zeros
        return logps, entropy

    @staticmethod
    def backward(ctx, g_logps, g_entropy):
        hidden, weight, bias, targets = ctx.saved_tensors
        t, chunk = ctx.temperature, ctx.chunk
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        g_h = torch.zeros_like(hidden, dtype=torch.float32) if need_h else None  # [M, H]
        g_w = torch.zeros_like(weight, dtype=torch.float32) if need_w else None  # [V, H]
        g_b = torch.zeros_like(bias, dtype=torch.float32) if need_b and bias is not None else None  # [V]
        for s in range(0, hidden.shape[0], chunk):
            h = hidden[s : s + chunk]  # [c, H]
            z = _chunk_logits(h, weight, bias, t)  # [c, V]
            p = torch.softmax(z, dim=-1)  # [c, V]
            dz = torch.zeros_like(z)  # [c, V]
            if g_logps is not None:  # d logp / dz = onehot - p
                dz -= p * g_logps[s : s + chunk, None]
                dz.scatter_add_(-1, targets[s : s + chunk, None], g_logps[s : s + chunk, None].float())
            if g_entropy is not None:
                mean_z = (p * z).sum(-1, keepdim=True)  # [c, 1]
                dz -= g_entropy[s : s + chunk, None] * p * (z - mean_z)  # dH/dz = -p (z - E_p z)
            dz /= t
            if g_h is not None:
                g_h[s : s + chunk] = dz @ weight.float()  # [c, H]
            if g_w is not None:
                g_w += dz.t() @ h.float()  # [V, H]
            if g_b is not None:
                g_b += dz.sum(0)
        cast = lambda g, like: None if g is None else g.to(like.dtype)  # noqa: E731
        return cast(g_h, hidden), cast(g_w, weight), cast(g_b, bias), None, None, None


def head_logprobs(
    hidden: Tensor,
    head: torch.nn.Module,
    targets: Tensor,
    mask: Tensor,
    temperature: float = 1.0,
    chunk: int = CHUNK_TOKENS,
) -> tuple[Tensor, Tensor]:
    """Log-probs and entropies of ``targets`` from final hidden states, at the real positions only.

    Args:
        hidden: ``[N, C, H]`` the hidden state that predicts each target (the model's last norm applied).
        head: the output embedding, a ``Linear(H, V)`` (tied or not).
        targets: ``[N, C]`` the token ids to score.
        mask: ``[N, C]`` 1 at real tokens; padded positions are skipped and get 0.
        temperature: logits are divided by it, as the sampler did.
        chunk: tokens per block of logits.

    Returns:
        ``(logps [N, C], entropy [N, C])`` in float32, 0 at padding; both carry gradients.

    >>> head = torch.nn.Linear(4, 10, bias=False)
    >>> hidden, targets = torch.randn(2, 3, 4), torch.randint(0, 10, (2, 3))
    >>> mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    >>> logps, entropy = head_logprobs(hidden, head, targets, mask, chunk=2)
    >>> full = torch.log_softmax(head(hidden), dim=-1).gather(-1, targets[..., None]).squeeze(-1) * mask
    >>> torch.allclose(logps, full, atol=1e-6), float(logps[0, 2].detach())
    (True, 0.0)
    """
    real = mask.bool()  # [N, C]
    logps = torch.zeros(targets.shape, dtype=torch.float32, device=hidden.device)  # [N, C]
    entropy = torch.zeros(targets.shape, dtype=torch.float32, device=hidden.device)  # [N, C]
    if not bool(real.any()):
        return logps + 0.0 * hidden.sum(), entropy
    lp, ent = ChunkedHeadLogprobs.apply(
        hidden[real], head.weight, getattr(head, "bias", None), targets[real], float(temperature), int(chunk)
    )  # [M], [M]
    return logps.masked_scatter(real, lp), entropy.masked_scatter(real, ent)


def causal_lm(model: torch.nn.Module) -> torch.nn.Module:
    """The ``transformers`` model inside ``model``: DDP/accelerate wrappers (``.module``) and peft
    (``get_base_model()``) removed."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def supports_chunked_head(model: torch.nn.Module) -> bool:
    """Whether :func:`hidden_states_out` gives what the head needs: a ``Linear`` output embedding applied as it is
    (no logit soft-capping or scaling, which the chunked head does not apply).

    >>> from minirl.testing import make_tiny_model
    >>> supports_chunked_head(make_tiny_model(vocab_size=16))
    True
    """
    lm = causal_lm(model)
    head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
    config = getattr(lm, "config", None)
    scaled = any(
        getattr(config, name, None) not in (None, 1.0)
        for name in ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier")
    )
    return isinstance(head, torch.nn.Linear) and not scaled


@contextmanager
def hidden_states_out(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Within the block, ``model(...).logits`` holds the final hidden states ``[N, T, H]`` instead of the logits;
    yields the output embedding (the head) to apply to them. Restored on exit, also after an error."""
    lm = causal_lm(model)
    head = lm.get_output_embeddings()
    lm.set_output_embeddings(torch.nn.Identity())
    try:
        yield head
    finally:
        lm.set_output_embeddings(head)
