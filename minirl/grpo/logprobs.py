"""Per-token log-probabilities of the completion tokens: the log pi_theta(o_t | q, o_<t) of GRPO's ratio.

The policy-gradient objective (DeepSeekMath arXiv:2402.03300, eq. 3) only needs, for each completion token o_t, the
log-probability the model gives it. We run the model on ``prompt + completion`` and score only the last ``C``
positions (``logits_to_keep``), which is exactly what TRL's ``GRPOTrainer._get_per_token_logps_and_entropies``
computes; ``tests/test_grpo_trl_parity.py`` checks the two agree to 1e-5, gradients included.

Layout of one row (P prompt columns, left-padded; C completion columns, right-padded; 0 = pad):

    input_ids      [pad pad q1 q2 q3 | o1 o2 o3 eos pad]
    attention_mask [ 0   0  1  1  1  |  1  1  1  1   0 ]

The logit at position j predicts token j+1, so the C logits that score o_1..o_C sit at positions P-1 .. P+C-2.

Choices that follow TRL (1.16):

- logits are divided by the *sampling* temperature before the softmax, so the log-probs are those of the
  distribution the completions were actually drawn from;
- no ``position_ids`` are passed: the model numbers positions 0..P+C-1 from the first column, padding included. With
  rotary embeddings (Llama, Qwen, SmolLM) only position *differences* matter, so a left shift changes nothing;
- log-probs (and entropies) of padded completion positions are set to 0, so nothing undefined leaks into the loss.

Like TRL's fused, tiled LM head, the default never builds the ``[N, C, V]`` logits: the model returns its final
hidden states and :mod:`minirl.grpo.head` runs the head a chunk of real tokens at a time (``chunk`` tokens; values and
gradients equal to the full logits up to float summation order). ``chunk=None``, and models whose head is not a plain
``Linear`` (logit soft-capping), take the plain ``model(...).logits`` path, which still avoids the *second*
``[N, C, V]`` tensor a full ``log_softmax`` would allocate (``selective_log_softmax``).
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import Tensor

from minirl.grpo.head import CHUNK_TOKENS, head_logprobs, hidden_states_out, supports_chunked_head
from minirl.prefill import (
    CHECKPOINT_READS_CACHE,
    Prefilled,
    cache_read_under_checkpointing,
    checkpointing_on,
    checkpointing_paused,
    prefill,
    read_only,
    select_rows,
    with_cache,
)


def _log_normalizer(logits: Tensor, dtype: torch.dtype) -> Tensor:
    """``logsumexp`` over the vocabulary, one sequence at a time so at most one ``[T, V]`` upcast copy exists."""
    return torch.stack([torch.logsumexp(row.to(dtype), dim=-1) for row in logits])  # [N, T]


def selective_log_softmax(logits: Tensor, index: Tensor) -> Tensor:
    """``log_softmax(logits)`` gathered at ``index``, without materialising the full ``[N, T, V]`` log-softmax.

    ``log p(i) = z_i - logsumexp(z)``: we gather the one logit we need and compute the normaliser row by row. Half
    precision logits (bf16/fp16) are upcast to float32 one row at a time, since ``logsumexp`` over a 50k-150k
    vocabulary in bf16 loses about two digits; the result is float32 (float64 stays float64).

    Args:
        logits: ``[N, T, V]`` unnormalised scores.
        index: ``[N, T]`` token ids to score.

    Returns:
        ``[N, T]`` log-probabilities.

    >>> logits = torch.tensor([[[0.0, 0.0], [2.0, 0.0]]])
    >>> [round(x, 4) for x in selective_log_softmax(logits, torch.tensor([[1, 0]]))[0].tolist()]
    [-0.6931, -0.1269]
    """
    if logits.dim() != 3 or index.shape != logits.shape[:2]:
        raise ValueError(
            f"expected logits [N, T, V] and index [N, T], got {tuple(logits.shape)} and {tuple(index.shape)}"
        )
    dtype = torch.promote_types(logits.dtype, torch.float32)
    picked = logits.gather(-1, index.unsqueeze(-1)).squeeze(-1).to(dtype)  # [N, T]
    return picked - _log_normalizer(logits, dtype)  # [N, T]


@torch.no_grad()
def _entropy(logits: Tensor) -> Tensor:
    """Entropy ``H = -sum_v p_v log p_v`` of each next-token distribution, row by row (no gradient: for logging)."""
    rows = []
    for row in logits:  # row: [T, V]
        logp = torch.log_softmax(row.float(), dim=-1)  # [T, V]
        rows.append(-(logp.exp() * logp).sum(-1))  # [T]
    return torch.stack(rows)  # [N, T]


def completion_logprobs(
    model: torch.nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    logits_to_keep: int,
    temperature: float = 1.0,
    compute_entropy: bool = False,
    chunk: int | None = CHUNK_TOKENS,
) -> tuple[Tensor, Tensor | None]:
    """Log-probabilities of the completion tokens under ``model`` (and optionally the entropy at each of them).

    Args:
        model: a ``transformers`` causal LM (or a PEFT wrapper of one) accepting ``logits_to_keep``.
        input_ids: ``[N, P+C]`` prompt (left-padded) followed by completion (right-padded).
        attention_mask: ``[N, P+C]``, 1 for real tokens.
        logits_to_keep: C, the number of completion columns at the end of ``input_ids``.
        temperature: the sampling temperature; logits are divided by it, as TRL does.
        compute_entropy: also return the entropy of each next-token distribution (detached, for logging).
        chunk: tokens whose logits exist at once (:mod:`minirl.grpo.head`); None = the full ``[N, C, V]`` logits.

    Returns:
        ``(logps [N, C], entropy [N, C] or None)``, float32 for half-precision models; 0 at padded positions.

    >>> from minirl.testing import make_tiny_model
    >>> model = make_tiny_model(vocab_size=16)
    >>> ids = torch.tensor([[0, 5, 6, 7, 2, 0]])
    >>> mask = torch.tensor([[0, 1, 1, 1, 1, 0]])
    >>> logps, _ = completion_logprobs(model, ids, mask, logits_to_keep=3)
    >>> logps.shape, logps[0, -1].item()
    (torch.Size([1, 3]), 0.0)
    """
    if input_ids.dim() != 2 or attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"expected input_ids and attention_mask of the same shape [N, P+C], got {tuple(input_ids.shape)} "
            f"and {tuple(attention_mask.shape)}"
        )
    if not 1 <= logits_to_keep < input_ids.shape[1]:
        raise ValueError(
            f"logits_to_keep must be in [1, {input_ids.shape[1] - 1}] (the completion length; at least one prompt "
            f"token is needed to predict the first completion token), got {logits_to_keep}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    targets = input_ids[:, -logits_to_keep:]  # [N, C]
    chunked = chunk is not None and supports_chunked_head(model)
    with hidden_states_out(model) if chunked else nullcontext() as head:
        # One extra position: the one at the last prompt token predicts the first completion token.
        out = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=logits_to_keep + 1)
    scores = out.logits[
        :, :-1, :
    ]  # [N, C, V] logits, or [N, C, H] hidden states; the last predicts past the end
    return _token_logprobs(
        scores, head, targets, attention_mask[:, -logits_to_keep:], temperature, compute_entropy, chunk
    )


def _token_logprobs(
    scores: Tensor,
    head: torch.nn.Module | None,
    targets: Tensor,
    mask: Tensor,
    temperature: float,
    compute_entropy: bool,
    chunk: int | None,
) -> tuple[Tensor, Tensor | None]:
    """``(logps [N, C], entropy [N, C] or None)`` of ``targets`` from ``scores``: hidden states ``[N, C, H]`` when the
    ``head`` is given (applied in chunks), else logits ``[N, C, V]``; 0 where ``mask`` is 0."""
    if head is not None:
        logps, entropy = head_logprobs(scores, head, targets, mask, temperature, chunk or CHUNK_TOKENS)
        return logps, entropy.detach() if compute_entropy else None
    logits = scores / temperature if temperature != 1.0 else scores  # [N, C, V]
    real = mask.bool()  # [N, C]
    logps = selective_log_softmax(logits, targets).masked_fill(~real, 0.0)  # [N, C]
    entropy = _entropy(logits).masked_fill(~real, 0.0) if compute_entropy else None  # [N, C]
    return logps, entropy


def grouped_completion_logprobs(
    model: torch.nn.Module,
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    completion_ids: Tensor,
    completion_mask: Tensor,
    group_index: Tensor,
    temperature: float = 1.0,
    compute_entropy: bool = False,
    chunk: int | None = CHUNK_TOKENS,
    prefilled: Prefilled | None = None,
) -> tuple[Tensor, Tensor | None]:
    """:func:`completion_logprobs` with each distinct prompt run once, not once per completion.

    The G completions of a group share their prompt, so we run the B distinct prompts once (with gradient, and their
    common prefix, the system prompt, once for all: :func:`minirl.prefill.prefill`), select
    their KV cache rows for the N completions (``index_select`` is differentiable, so gradients flow back into the
    prompt computation exactly), and run only the completion tokens on top. Same values and gradients as the
    ``prompt + completion`` forward up to float rounding (``tests/test_grpo_prefix.py``), with the prompt's share of
    the compute cut by G: for GSM8K-size prompts and short completions this is most of a training step. Positions are
    numbered from each row's first real token, so it needs a model with rotary (or no) position embeddings for the
    left-padding-invariance that TRL's path also relies on.

    Args:
        prompt_ids, prompt_mask: ``[B, P]`` the distinct prompts, left-padded.
        completion_ids, completion_mask: ``[N, C]`` completions, right-padded.
        group_index: ``[N]`` which prompt row each completion belongs to.
        temperature, compute_entropy, chunk: as in :func:`completion_logprobs`.
        prefilled: the prompts already prefilled by :func:`prompt_prefill` (same ``model`` and ``chunk``), whose
            rows ``group_index`` points into; None = prefill ``prompt_ids`` here.

    Returns:
        ``(logps [N, C], entropy [N, C] or None)``; 0 at padded positions.
    """
    if completion_ids.shape != completion_mask.shape or group_index.shape != completion_ids.shape[:1]:
        raise ValueError(
            f"completion_ids/mask [N, C] and group_index [N] do not match: {tuple(completion_ids.shape)}, "
            f"{tuple(completion_mask.shape)}, {tuple(group_index.shape)}"
        )
    checkpointed = checkpointing_on(model)
    if (
        checkpointed and not CHECKPOINT_READS_CACHE
    ):  # an older transformers: whole sequences, no shared prompt
        if prefilled is not None:
            raise ValueError(
                "prefilled prompts need a transformers whose checkpointed layers read a KV cache (5.2x)"
            )
        input_ids, attention_mask = _whole_rows(
            prompt_ids, prompt_mask, completion_ids, completion_mask, group_index
        )
        return completion_logprobs(
            model, input_ids, attention_mask, completion_ids.shape[1], temperature, compute_entropy, chunk
        )
    chunked = chunk is not None and supports_chunked_head(model)
    with hidden_states_out(model) if chunked else nullcontext() as head:
        pre = prefilled if prefilled is not None else _prefill(model, prompt_ids, prompt_mask, checkpointed)
        first = pre.last_logits.index_select(0, group_index)  # [N, V or H] predicts completion token 1
        # every layer's K/V: [B, H, W, D] -> [N, H, W, D]; read, never extended: a checkpointed layer's recompute
        # sees the same
        cache = read_only(select_rows(pre.cache, group_index))
        c = completion_ids.shape[1]
        scores = first.unsqueeze(1)  # [N, 1, V or H]
        if c > 1:
            start = pre.next_position.index_select(0, group_index)  # [N] first completion position
            comp_pos = start.unsqueeze(1) + torch.arange(c - 1, device=start.device)  # [N, C-1]
            attn = torch.cat(
                [pre.attention_mask.index_select(0, group_index), completion_mask[:, :-1]], dim=1
            )  # [N, W+C-1]
            with cache_read_under_checkpointing(model) if checkpointed else nullcontext():
                rest = model(
                    input_ids=completion_ids[:, :-1],
                    attention_mask=attn,
                    position_ids=comp_pos,
                    **with_cache(cache),
                    use_cache=True,
                ).logits  # [N, C-1, V or H]
            scores = torch.cat([scores, rest], dim=1)  # [N, C, V] logits, or [N, C, H] hidden states
    return _token_logprobs(scores, head, completion_ids, completion_mask, temperature, compute_entropy, chunk)


def _prefill(model, prompt_ids: Tensor, prompt_mask: Tensor, checkpointed: bool) -> Prefilled:
    """The prompts' cache, their common prefix run once (:func:`minirl.prefill.prefill`), without checkpointing
    (the prompts are few tokens)."""
    with checkpointing_paused(model) if checkpointed else nullcontext():
        return prefill(model, prompt_ids, prompt_mask)


def prompt_prefill(
    model, prompt_ids: Tensor, prompt_mask: Tensor, chunk: int | None = CHUNK_TOKENS
) -> Prefilled:
    """The ``[B, P]`` prompts prefilled as :func:`grouped_completion_logprobs` does it, for its ``prefilled``
    argument: with ``chunk`` (and a plain ``Linear`` head) ``last_logits`` holds the last prompt tokens' hidden
    states ``[B, H]``, else their logits ``[B, V]``. With or without gradient, as the caller's context says."""
    chunked = chunk is not None and supports_chunked_head(model)
    with hidden_states_out(model) if chunked else nullcontext():
        return _prefill(model, prompt_ids, prompt_mask, checkpointing_on(model))


def _whole_rows(
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    completion_ids: Tensor,
    completion_mask: Tensor,
    group_index: Tensor,
) -> tuple[Tensor, Tensor]:
    """``prompt + completion`` rows ``[N, P+C]`` (and their mask) for :func:`completion_logprobs`."""
    ids = torch.cat([prompt_ids.index_select(0, group_index), completion_ids], dim=1)  # [N, P+C]
    mask = torch.cat([prompt_mask.index_select(0, group_index), completion_mask], dim=1)  # [N, P+C]
    return ids, mask
