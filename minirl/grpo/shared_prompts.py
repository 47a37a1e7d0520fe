"""The prompts of a minibatch prefilled once for all of its micro-batches, gradients included.

GRPO's update (DeepSeekMath arXiv:2402.03300, eq. 3) scores G completions per prompt, and
:func:`~minirl.grpo.logprobs.grouped_completion_logprobs` already runs each distinct prompt once rather than once per
completion. Split into micro-batches for memory, each micro-batch would prefill its own prompts again (for the R1-Zero
default, micro-batches of one group each: the 148-token system prompt once per group instead of once per step, most of
the update's tokens). :class:`SharedPrompts` prefills the minibatch's prompts once, without gradient; every
micro-batch reads its rows of that cache (``minirl.prefill.select_rows``), whose keys, values and last hidden states are
made leaves that collect the micro-batches' gradients; :meth:`SharedPrompts.backward` then runs the prefill a second
time, with gradient, and back-propagates the collected gradients through it once:

    dL/dtheta = sum_i dL_i/dtheta|_cache + (d cache / d theta)^T sum_i dL_i/d cache

which is the chain rule of the one-batch loss, term for term (the loss is a sum over micro-batches; the prefill's
values are recomputed exactly, with the random state of the first one). So the gradient equals the one-batch gradient up
to float summation order (``tests/test_shared_prompts.py``), the prompts cost two forwards and one backward per
minibatch whatever the number of micro-batches, and the prompts' activations exist only during the second prefill,
never beside a micro-batch's. This is activation checkpointing applied to the shared prompt (Chen et al. 2016,
arXiv:1604.06174). Departure from a plain micro-batch loop: one process only (under DDP each micro-batch's backward
would all-reduce before the prompts' gradient arrives; minirl then prefills per micro-batch as before).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from minirl.grpo.head import CHUNK_TOKENS
from minirl.grpo.logprobs import grouped_completion_logprobs, prompt_prefill
from minirl.prefill import CHECKPOINT_READS_CACHE, Prefilled, checkpointing_on


def _tensors(pre: Prefilled) -> list[Tensor]:
    """The tensors of a prefill that the completions read: the last prompt positions' states, every layer's K/V."""
    out = [pre.last_logits]
    for layer in getattr(pre.cache, "layers", []):
        out += [layer.keys, layer.values]
    return out


def _as_leaves(pre: Prefilled) -> Prefilled:
    """``pre`` with every tensor the completions read detached into a leaf that collects its gradient."""
    leaf = lambda t: t.detach().requires_grad_(True)  # noqa: E731
    for layer in getattr(pre.cache, "layers", []):
        layer.keys, layer.values = leaf(layer.keys), leaf(layer.values)
    return dataclasses.replace(pre, last_logits=leaf(pre.last_logits))


class SharedPrompts:
    """A minibatch's prompts, prefilled once for every micro-batch (see the module docstring).

    Args:
        model: the policy (or the reference), as given to :func:`grouped_completion_logprobs`.
        prompt_ids, prompt_mask: ``[B, P]`` the minibatch's distinct prompts, left-padded.
        chunk: as in :func:`grouped_completion_logprobs`.

    Under ``torch.no_grad`` (the frozen log-probs) it is a prefill reused by each micro-batch; with gradient, call
    :meth:`backward` once after the last micro-batch's backward pass.

    >>> from minirl.testing import make_tiny_model
    >>> model = make_tiny_model(vocab_size=16)
    >>> prompts, mask = torch.tensor([[3, 4, 5], [3, 4, 6]]), torch.ones(2, 3, dtype=torch.long)
    >>> shared = SharedPrompts(model, prompts, mask)
    >>> logps, _ = shared.logprobs(torch.tensor([[7, 8]]), torch.ones(1, 2), torch.tensor([1]))
    >>> logps.sum().backward(); shared.backward()
    >>> logps.shape, model.model.embed_tokens.weight.grad[6].abs().sum().item() > 0  # the prompt's token too
    (torch.Size([1, 2]), True)
    """

    def __init__(self, model, prompt_ids: Tensor, prompt_mask: Tensor, chunk: int | None = CHUNK_TOKENS):
        self.model, self.prompt_ids, self.prompt_mask, self.chunk = model, prompt_ids, prompt_mask, chunk
        self.grad = torch.is_grad_enabled()
        self.cuda = [prompt_ids.device] if prompt_ids.device.type == "cuda" else []
        self.rng = (torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in self.cuda])
        with torch.no_grad():
            pre = prompt_prefill(model, prompt_ids, prompt_mask, chunk)
        self.prefilled = _as_leaves(pre) if self.grad else pre

    @staticmethod
    def applies(model, num_processes: int) -> bool:
        """Whether the gradient path can share the prompts: one process, and a ``transformers`` whose checkpointed
        layers read a KV cache when checkpointing is on."""
        return num_processes == 1 and (CHECKPOINT_READS_CACHE or not checkpointing_on(model))

    def logprobs(
        self,
        completion_ids: Tensor,
        completion_mask: Tensor,
        group_index: Tensor,
        temperature: float = 1.0,
        compute_entropy: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """``(logps [n, C], entropy [n, C] or None)`` of completions whose prompts are rows ``group_index`` [n]."""
        return grouped_completion_logprobs(
            self.model,
            self.prompt_ids,
            self.prompt_mask,
            completion_ids,
            completion_mask,
            group_index,
            temperature=temperature,
            compute_entropy=compute_entropy,
            chunk=self.chunk,
            prefilled=self.prefilled,
        )

    def backward(self) -> None:
        """Back-propagate the gradients the micro-batches left on the prompts' cache through a second prefill, with
        gradient (the same random state as the first); nothing to do without gradient or when no micro-batch ran."""
        old = _tensors(self.prefilled) if self.grad else []
        if all(t.grad is None for t in old):
            return
        with torch.random.fork_rng(devices=self.cuda):  # dropout, if any, draws what the first prefill drew
            torch.set_rng_state(self.rng[0])
            for device, state in zip(self.cuda, self.rng[1]):
                torch.cuda.set_rng_state(state, device)
            again = _tensors(prompt_prefill(self.model, self.prompt_ids, self.prompt_mask, self.chunk))
        roots = [(new, o.grad) for o, new in zip(old, again) if o.grad is not None]
        torch.autograd.backward([r for r, _ in roots], [g for _, g in roots])
        self.prefilled = None  # the cache and its gradients are freed
