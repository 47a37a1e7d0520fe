"""A KV cache with room reserved for the completion, so that a decode step writes in place instead of copying.

``transformers``' ``DynamicCache`` appends each step's keys and values with ``torch.cat``: every decode step copies
the whole cache of every layer. For the 64 rows of a multi-prompt batch that copy took more of a decode step on a
CPU than the weight matmuls (measured: docs/benchmarks.md, section Micro-measurements of the decode step).

:func:`reserve` turns a filled ``DynamicCache`` (after the prefill) into one whose layers own a buffer of
``[B, H, T + extra, D]``: ``update`` writes the new token's keys and values into the next free column and returns
views of the filled part, so attention sees exactly the tensors ``DynamicCache`` would have built, with the same
values. Dropping finished rows (``batch_select_indices``) gathers the kept rows of the whole buffer.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicLayer


class ReservedLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys and values live in a preallocated buffer (see the module docstring)."""

    def reserve(self, extra: int) -> None:
        """Copy the layer's ``[B, H, T, D]`` keys/values into buffers with ``extra`` free columns."""
        self._length = self.keys.shape[-2]
        self._kbuf = self._grow(self.keys, extra)  # [B, H, T + extra, D]
        self._vbuf = self._grow(self.values, extra)  # [B, H, T + extra, D]
        self._views()

    @staticmethod
    def _grow(filled: torch.Tensor, extra: int) -> torch.Tensor:
        b, h, t, d = filled.shape
        buf = filled.new_empty(b, h, t + extra, d)
        buf[:, :, :t] = filled
        return buf

    def _views(self) -> None:
        self.keys = self._kbuf[:, :, : self._length]  # [B, H, T, D] a view, no copy
        self.values = self._vbuf[:, :, : self._length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        """Write ``[B, H, q, D]`` new keys/values after the filled part; return views of everything filled."""
        end = self._length + key_states.shape[-2]
        if end > self._kbuf.shape[-2]:
            raise RuntimeError(
                f"ReservedLayer: {end} positions do not fit the {self._kbuf.shape[-2]} reserved (reserve more)"
            )
        self._kbuf[:, :, self._length : end] = key_states
        self._vbuf[:, :, self._length : end] = value_states
        self._length = end
        self._views()
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep the rows ``indices`` (the whole contiguous buffer is gathered)."""
        self._kbuf = self._kbuf[
            indices
        ]  # advanced indexing: torch.index_select is ~30x slower on 2 busy threads
        self._vbuf = self._vbuf[indices]
        self._views()

    def batch_repeat_interleave(self, repeats: int) -> None:
        """Repeat every row ``repeats`` times (rows ``i*repeats .. i*repeats+repeats-1`` copy row i)."""
        self._kbuf = self._kbuf.repeat_interleave(repeats, dim=0)
        self._vbuf = self._vbuf.repeat_interleave(repeats, dim=0)
        self._views()


def reserve(cache, extra: int):
    """Give every layer of a filled ``DynamicCache`` ``extra`` reserved positions (in place); returns the cache.

    Layers that are not plain ``DynamicLayer``s (sliding-window, quantized) are left as they are.

    >>> from transformers import DynamicCache
    >>> cache = DynamicCache()
    >>> _ = cache.update(torch.zeros(2, 1, 3, 4), torch.zeros(2, 1, 3, 4), 0)
    >>> _ = reserve(cache, 5)
    >>> k, _ = cache.update(torch.ones(2, 1, 1, 4), torch.ones(2, 1, 1, 4), 0)
    >>> tuple(k.shape), float(k[0, 0, -1, 0]), cache.get_seq_length()
    ((2, 1, 4, 4), 1.0, 4)
    """
    for layer in getattr(cache, "layers", []):
        if type(layer) is DynamicLayer and layer.is_initialized and layer.keys.numel():
            layer.__class__ = ReservedLayer
            layer.reserve(extra)
    return cache
