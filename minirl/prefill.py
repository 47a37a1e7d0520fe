"""Prefill a batch of prompts with their common prefix computed once: the KV cache that decoding and the training
forward both start from.

Every prompt of a run starts with the same system prompt (the R1-Zero instruction and its worked example: most of a
prompt's tokens; the count for the R1-Zero default: docs/architecture.md, section Side parts). Running each prompt
whole repeats that work B times, in the rollout's prefill and, with gradient, in every training step. :func:`prefill`
runs the longest common token prefix once (batch 1), repeats its keys and values for the B prompts, and runs only each
prompt's own suffix on top.

Layout: each row's cache is ``[prefix (L) | pad ... | suffix_b]`` with the padding masked out, and positions
numbered ``0 .. L + len(suffix_b) - 1`` over the real tokens, so every real token sees exactly the tokens and positions
it sees in a left-padded prompt: the same values up to float rounding, gradients included (``repeat_interleave``
and indexing are differentiable). It needs a model with rotary (or no) position embeddings, like the left-padding
invariance the rest of minirl relies on. Without a prefix worth sharing (one prompt, or fewer than
``MIN_SHARED`` common tokens) the prompts are prefilled whole, left-padded, as before.

The training forward reads the prompts' cache and never extends it: :func:`read_only` makes its layers return the
prompt's keys and values followed by the completion's without storing them. That is also what lets gradient
checkpointing recompute a layer in the backward pass and see the same keys and values (``transformers`` otherwise
drops the cache of a checkpointed layer, and the recompute would append to it a second time):
:func:`checkpointing_paused` prefills the prompts without checkpointing (they are few tokens) and
:func:`cache_read_under_checkpointing` lets the checkpointed layers read the read-only cache.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import torch
from torch import Tensor
from transformers.cache_utils import DynamicLayer
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import CausalLMOutputWithPast

MIN_SHARED = 8
"""Fewest common tokens worth a separate prefix forward."""


def _cache_name() -> str:
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


def select_rows(cache, index: Tensor):
    """A new cache holding rows ``index`` of ``cache`` (``[B, H, W, D] -> [n, H, W, D]`` in every layer), which is left
    as it was, so several micro-batches can read the rows they need of one prefill. ``index_select`` is
    differentiable: gradients flow back to ``cache``'s tensors.

    >>> from transformers import DynamicCache
    >>> cache = DynamicCache()
    >>> _ = cache.update(torch.arange(3.0).view(3, 1, 1, 1), torch.zeros(3, 1, 1, 1), 0)
    >>> part = select_rows(cache, torch.tensor([2, 2]))
    >>> part.layers[0].keys.flatten().tolist(), cache.layers[0].keys.shape[0]
    ([2.0, 2.0], 3)
    """
    rows = copy.copy(cache)
    rows.layers = [copy.copy(layer) for layer in cache.layers]
    rows.batch_select_indices(index)  # reassigns each copied layer's keys and values
    return rows


class ReadOnlyLayer(DynamicLayer):
    """A ``DynamicLayer`` that is read, never extended: ``update`` returns its keys/values followed by the new ones
    (``[B, H, T + q, D]``) and keeps nothing, so running the same forward twice sees the same cache."""

    def update(self, key_states: Tensor, value_states: Tensor, *args, **kwargs) -> tuple[Tensor, Tensor]:
        """Return ``[B, H, T + q, D]`` keys and values: the cached ones, then ``[B, H, q, D]`` new ones; store none."""
        return torch.cat([self.keys, key_states], dim=-2), torch.cat([self.values, value_states], dim=-2)


def read_only(cache):
    """Make every plain ``DynamicLayer`` of ``cache`` a :class:`ReadOnlyLayer` (in place); returns the cache.

    >>> from transformers import DynamicCache
    >>> cache = DynamicCache()
    >>> _ = cache.update(torch.zeros(1, 1, 3, 2), torch.zeros(1, 1, 3, 2), 0)
    >>> k, _ = read_only(cache).update(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2), 0)
    >>> tuple(k.shape), cache.get_seq_length()
    ((1, 1, 5, 2), 3)
    """
    for layer in getattr(cache, "layers", []):
        if type(layer) is DynamicLayer and layer.is_initialized:
            layer.__class__ = ReadOnlyLayer
    return cache


def _checkpointed(model) -> list[torch.nn.Module]:
    """The modules of ``model`` with gradient checkpointing switched on (``transformers`` sets the flag on the model
    and on each of its checkpointed layers)."""
    return [m for m in model.modules() if getattr(m, "gradient_checkpointing", False) is True]


def checkpointing_on(model) -> bool:
    """Whether a forward of ``model`` right now would checkpoint its layers (switched on, training, with grad)."""
    return model.training and torch.is_grad_enabled() and bool(_checkpointed(model))


CHECKPOINT_READS_CACHE = hasattr(GradientCheckpointingLayer, "_can_checkpoint_with_cache")
"""Whether this ``transformers`` lets a checkpointed layer keep a KV cache it only reads (5.2x on)."""


@contextmanager
def checkpointing_paused(model) -> Iterator[None]:
    """Within the block ``model`` runs without gradient checkpointing (its flags are restored on exit)."""
    modules = _checkpointed(model)
    for m in modules:
        m.gradient_checkpointing = False
    try:
        yield
    finally:
        for m in modules:
            m.gradient_checkpointing = True


@contextmanager
def cache_read_under_checkpointing(model) -> Iterator[None]:
    """Within the block the checkpointed layers of ``model`` keep the KV cache they are given instead of dropping it:
    ``transformers``' switch for layers that only read their cache (:class:`ReadOnlyLayer` makes that true)."""
    layers = [m for m in _checkpointed(model) if isinstance(m, GradientCheckpointingLayer)]
    for m in layers:
        m._can_checkpoint_with_cache = True
    try:
        yield
    finally:
        for m in layers:
            del m._can_checkpoint_with_cache  # back to the class's False
