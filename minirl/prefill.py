"""Prefill a batch of prompts with their common prefix computed once: the KV cache that decoding and the training
forward both start from.

Every prompt of a run starts with the same system prompt (the R1-Zero instruction and its worked example: ~130 of the
~145 tokens of a SmolLM2 prompt for 2-digit addition). Running each prompt whole repeats that work B times, in the
rollout's prefill and, with gradient, in every training step. :func:`prefill` runs the longest common token prefix
once (batch 1), repeats its keys and values for the B prompts, and runs only each prompt's own suffix on top.

Layout: each row's cache is ``[prefix (L) | pad ... | suffix_b]`` with the padding masked out, and positions
numbered ``0 .. L + len(suffix_b) - 1`` over the real tokens, so every real token sees exactly the tokens and positions
it sees in a left-padded prompt: the same values up to float rounding, gradients included (``repeat_interleave``
and indexing are differentiable). It needs a model with rotary (or no) position embeddings, like the left-padding
invariance the rest of minirl relies on. Without a prefix worth sharing (one prompt, or fewer than
``MIN_SHARED`` common tokens) the prompts are prefilled whole, left-padded, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

MIN_SHARED = 8
"""Fewest common tokens worth a separate prefix forward."""


def _cache_name() -> str:
    from dataclasses import fields

    from transformers.modeling_outputs import CausalLMOutputWithPast

    return "cache" if "cache" in {f.name for f in fields(CausalLMOutputWithPast)} else "past_key_values"


CACHE = _cache_name()
"""The name transformers gives the KV cache, as a forward argument and an output field: ``cache`` from 5.2x on,
``past_key_values`` before (still accepted there, with a deprecation warning, until 5.40)."""


def with_cache(cache) -> dict:
    """``{CACHE: cache}``: the keyword argument that hands ``cache`` to a model's forward.

    >>> list(with_cache(None)) == [CACHE]
    True
    """
    return {CACHE: cache}


@dataclass
class Prefilled:
    """The prompts' KV cache and what decoding on top of it needs."""

    cache: object  # a transformers Cache with B rows
    last_logits: (
        Tensor  # [B, V] the logits at each prompt's last token (they predict the first completion token)
    )
    attention_mask: Tensor  # [B, W] 1 at the cache's real positions (W = its width)
    next_position: Tensor  # [B] the position id of each row's next token
    shared: int  # tokens of common prefix computed once (0 = none)


def common_prefix_length(rows: list[list[int]]) -> int:
    """Length of the longest common prefix of token lists, leaving every row at least one token of its own.

    >>> common_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3, 4, 6]])
    3
    >>> common_prefix_length([[1, 2], [1, 2]])
    1
    """
    if not rows:
        return 0
    limit = min(len(r) for r in rows) - 1
    n = 0
    first = rows[0]
    while n < limit and all(r[n] == first[n] for r in rows):
        n += 1
    return max(n, 0)


def _left_pad(rows: list[list[int]], pad_id: int, device) -> tuple[Tensor, Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=device)  # [B, S]
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)  # [B, S]
    return ids, mask


def prefill(model, prompt_ids: Tensor, prompt_mask: Tensor, pad_id: int = 0, share: bool = True) -> Prefilled:
    """Run the left-padded prompts ``[B, P]`` through ``model`` with a KV cache (see the module docstring).

    Args:
        model: a causal LM accepting ``position_ids``, a KV cache (:data:`CACHE`) and ``logits_to_keep``.
        prompt_ids, prompt_mask: ``[B, P]`` left-padded prompts and their mask.
        pad_id: the id fed at padded positions (masked out).
        share: compute the common prefix once (False: whole prompts, left-padded).
    """
    rows = [ids[m.bool()].tolist() for ids, m in zip(prompt_ids, prompt_mask)]
    shared = common_prefix_length(rows) if share and len(rows) > 1 else 0
    device = prompt_ids.device
    if shared < MIN_SHARED:
        positions = (prompt_mask.cumsum(dim=1) - 1).clamp(min=0)  # [B, P]
        out = model(
            input_ids=prompt_ids,
            attention_mask=prompt_mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
        return Prefilled(getattr(out, CACHE), out.logits[:, -1, :], prompt_mask, positions[:, -1] + 1, 0)
    b = len(rows)
    prefix = torch.tensor([rows[0][:shared]], device=device)  # [1, L]
    head = model(
        input_ids=prefix,
        attention_mask=torch.ones_like(prefix),
        position_ids=torch.arange(shared, device=device).unsqueeze(0),
        use_cache=True,
        logits_to_keep=1,
    )
    cache = getattr(head, CACHE)
    cache.batch_repeat_interleave(b)  # [1, H, L, D] -> [B, H, L, D]
    suffix_ids, suffix_mask = _left_pad([r[shared:] for r in rows], pad_id, device)  # [B, S]
    attn = torch.cat([suffix_mask.new_ones(b, shared), suffix_mask], dim=1)  # [B, L + S]
    positions = shared + (suffix_mask.cumsum(dim=1) - 1).clamp(min=0)  # [B, S]
    out = model(
        input_ids=suffix_ids,
        attention_mask=attn,
        position_ids=positions,
        **with_cache(cache),
        use_cache=True,
        logits_to_keep=1,
    )
    return Prefilled(getattr(out, CACHE), out.logits[:, -1, :], attn, positions[:, -1] + 1, shared)
