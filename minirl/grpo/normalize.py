"""How a GRPO loss is averaged: the ``loss_type`` denominators, and one denominator for a split minibatch.

:func:`minirl.grpo.grpo_loss` (its module has the equations) sums its per-token losses, as a sum of sequence means
for ``"grpo"`` (DeepSeekMath eq. 3 as written) and of tokens for ``"dapo"`` (DAPO, arXiv:2503.14476, eq. 8) and
``"dr_grpo"`` (Dr. GRPO, arXiv:2503.20783, sec. 3.1), and divides the sum by one number, the ``normalizer``. By
default it is the call's own :func:`loss_denominator`: N sequences, the real tokens, or N * max_completion_length,
which needs the generation budget, so ``dr_grpo`` callers always pass it.

"The batch" is the minibatch of one optimizer step, over all processes: a trainer that splits it into micro-batches
(gradient accumulation) or processes (DDP) passes every part the same :func:`minibatch_normalizer`, the denominator
of the whole minibatch (summed over processes) divided by the number of processes, since DDP averages gradients. The
parts' losses then add up to the minibatch's, whatever the split (``tests/test_ddp.py``: 2 processes equal 1, to
1e-5, also with uneven rows per process).

Where TRL 1.16 differs: its ``num_items_in_batch`` is our ``normalizer`` for ``dapo`` (its ``bnpo`` is ``dapo`` with
the default, this call's token count); for ``grpo``/``dr_grpo`` it divides micro-batch losses by the number of
accumulation steps, which equals ours when the micro-batches have the same size, not otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from minirl.config import LOSS_TYPES


def check_loss_type(loss_type: str) -> None:
    """Raise a ValueError that lists the valid names unless ``loss_type`` is one of ``LOSS_TYPES``.

    >>> check_loss_type("bnpo")
    Traceback (most recent call last):
    ValueError: unknown loss_type 'bnpo'; valid: grpo, dapo, dr_grpo
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; valid: {', '.join(LOSS_TYPES)}")


def _numerator(per_token: Tensor, mask: Tensor, loss_type: str) -> Tensor:
    """What ``loss_type`` sums: per-sequence means (``grpo``) or per-token losses (``dapo``, ``dr_grpo``)."""
    masked = per_token * mask  # [N, C]
    if loss_type == "grpo":
        return (masked.sum(-1) / mask.sum(-1).clamp(min=1)).sum()  # empty completions count as 0
    return masked.sum()


def loss_denominator(
    loss_type: str, completion_mask: Tensor, max_completion_length: int | None = None
) -> Tensor:
    """What ``loss_type`` divides its sum by, for the completions of ``completion_mask`` (``[N, C]``): N sequences
    (``grpo``), the real tokens (``dapo``) or N * max_completion_length (``dr_grpo``); an int64 scalar.

    >>> m = torch.tensor([[1, 1, 0], [1, 0, 0]])
    >>> [int(loss_denominator(t, m, 4)) for t in ("grpo", "dapo", "dr_grpo")]
    [2, 3, 8]
    """
    check_loss_type(loss_type)
    n = torch.tensor(completion_mask.shape[0], device=completion_mask.device)
    if loss_type == "grpo":
        return n
    if loss_type == "dapo":
        return completion_mask.sum().long()
    if max_completion_length is None:
        raise ValueError(
            "loss_type='dr_grpo' needs max_completion_length (the generation budget): pass the loss "
            "normalizer=loss_denominator('dr_grpo', completion_mask, max_completion_length)"
        )
    if max_completion_length < completion_mask.shape[1]:
        raise ValueError(
            f"max_completion_length={max_completion_length} is smaller than the completion width "
            f"{completion_mask.shape[1]}"
        )
    return n * max_completion_length


def minibatch_normalizer(
    loss_type: str,
    completion_mask: Tensor,
    max_completion_length: int | None = None,
    sum_over_processes: Callable[[Tensor], Tensor] | None = None,
    num_processes: int = 1,
) -> Tensor:
    """The ``normalizer`` to pass to every micro-batch of one optimizer step, on every process.

    The loss of a minibatch is the sum of its micro-batch losses on all processes over ``loss_denominator`` of the
    whole minibatch (all processes): the same number whatever the micro-batch split (gradient accumulation) or the
    number of processes. DDP averages gradients over processes, so the denominator is divided by ``num_processes``
    (TRL 1.16 does the same for ``dapo``: ``num_items_in_batch / num_processes``). Each process passes the mask of
    its own share of the minibatch; ``sum_over_processes`` sums a tensor over processes (e.g.
    ``lambda t: accelerator.reduce(t, "sum")``; None with one process).

    Summing each micro-batch's ``grpo_loss(..., normalizer=...)`` then gives the minibatch loss; with one process
    it equals ``aggregate`` over the whole minibatch:

    >>> x, m = torch.tensor([[1.0, 1.0], [4.0, 0.0]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    >>> norm = minibatch_normalizer("dapo", m)
    >>> float(aggregate(x[:1], m[:1], "dapo", norm) + aggregate(x[1:], m[1:], "dapo", norm))
    2.0
    """
    total = loss_denominator(loss_type, completion_mask, max_completion_length)
    if sum_over_processes is not None:
        total = sum_over_processes(total)
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    return total.double() / num_processes


def aggregate(
    per_token: Tensor, mask: Tensor, loss_type: str, normalizer: int | float | Tensor | None = None
) -> Tensor:
    """Reduce a ``[N, C]`` per-token loss over the real tokens (``mask``) to a scalar, as ``loss_type`` says.

    ``normalizer`` is the denominator (:func:`loss_denominator`, :func:`minibatch_normalizer`, or TRL's
    ``num_items_in_batch`` for ``dapo``); None is this call's ``loss_denominator``, which ``dr_grpo`` does not have.

    >>> x, m = torch.tensor([[1.0, 1.0], [4.0, 0.0]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    >>> [aggregate(x, m, t, loss_denominator(t, m, 4)).item() for t in ("grpo", "dapo", "dr_grpo")]
    [2.5, 2.0, 0.75]
    """
    if normalizer is None:
        normalizer = loss_denominator(loss_type, mask)
    total = _numerator(per_token, mask, loss_type)
    return total / torch.as_tensor(normalizer, device=total.device).to(total.dtype).clamp(min=1e-12)
