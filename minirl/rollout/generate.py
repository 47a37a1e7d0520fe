"""Rollout: sample G completions per prompt with a KV cache (GRPO's "sample a group of outputs {o_i}" step).

DeepSeekMath (arXiv:2402.03300) eq. 3 samples G outputs per question from the old policy. We do it with a plain decode
loop over the model's own forward and KV cache instead of ``model.generate``:

- the prompt batch is encoded once per prompt and then repeated G times (rows ``g*G .. g*G+G-1`` belong to prompt g,
  the layout the advantage code expects);
- sampling (temperature, top-p) draws from a ``torch.Generator`` that the trainer owns, so runs resume exactly;
- a row stops at EOS or at a stop string (``</answer>``); the loop ends as soon as every row has stopped, and finished
  rows are dropped from the batch (and from the KV cache) once they are an eighth of it, so that late tokens cost
  less (a stopped row still in the batch is decoded but nothing it samples is kept);
- completions that hit ``max_new_tokens`` without stopping are flagged ``truncated``.

``temperature=0`` means greedy decoding (used by evaluation). Two costs that are easy to miss are avoided: the KV
cache has room reserved for the completion, so a decode step writes in place instead of concatenating (copying) the
whole cache (``minirl.rollout.kv_cache``), and stop strings are looked for only in rows whose new token can end one
(``minirl.rollout.stops``). Each step draws one uniform per row of the whole batch, so a row's tokens do not depend
on which other rows are still running.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import rewards
from minirl.prefill import CACHE, prefill, with_cache
from minirl.rollout.kv_cache import reserve
from minirl.rollout.stops import StopMatcher


@dataclass
class Rollout:
    """A batch of prompts with their sampled completions (rows grouped by prompt, G per prompt)."""

    prompt_ids: torch.Tensor  # [N, P] left-padded
    prompt_mask: torch.Tensor  # [N, P] 1 = real token
    completion_ids: torch.Tensor  # [N, C] right-padded with pad_token_id
    completion_mask: torch.Tensor  # [N, C] 1 = generated token up to and including EOS / stop string
    truncated: torch.Tensor  # [N] bool, hit max_new_tokens without EOS or stop string
    texts: list[str]  # decoded completions (special tokens removed)
    num_generations: int
    prompts: list[str]  # the B prompt texts, one per group
    logprobs: torch.Tensor | None = (
        None  # [N, C] the sampler's log-prob of each token (0 at padding), if asked
    )

    @property
    def lengths(self) -> torch.Tensor:
        """Completion lengths in tokens. [N]"""
        return self.completion_mask.sum(dim=1)

    def completion_token_lists(self) -> list[list[int]]:
        """Completion ids without padding (the ``completion_ids`` kwarg rewards receive)."""
        return [row[: int(n)].tolist() for row, n in zip(self.completion_ids, self.lengths)]


def sample_next_token(
    logits: torch.Tensor,
    temperature: float | torch.Tensor,
    top_p: float,
    generator: torch.Generator | None,
    *,
    uniform: torch.Tensor | None = None,
    return_logprobs: bool = False,
):
    """Draw one token per row from ``logits`` [N, V] -> [N]. A temperature of 0 (per row or for all) is argmax.

    Args:
        logits: ``[N, V]`` next-token scores.
        temperature: one float, or ``[N]`` per row (rows at 0 are greedy).
        top_p: nucleus threshold (1.0 = off).
        generator: the random source (unused when every row is greedy or ``uniform`` is given).
        uniform: ``[N]`` uniforms in [0, 1) to use instead of drawing from ``generator``.
        return_logprobs: also return ``[N]`` the log-probability of each drawn token under the distribution it was
            drawn from (temperature-scaled and top-p-renormalised; 0 for greedy rows).
    """
    per_row = isinstance(temperature, torch.Tensor)
    if not per_row and temperature == 0:
        tokens = logits.argmax(dim=-1)  # [N]
        return (tokens, torch.zeros(tokens.shape, device=logits.device)) if return_logprobs else tokens
    temp = temperature.to(logits.device).float().unsqueeze(1) if per_row else temperature  # [N, 1] or float
    greedy = (temp == 0).squeeze(1) if per_row else None  # [N] rows decoded greedily
    if per_row:
        temp = temp.clamp(min=1e-6)
    probs = torch.softmax(logits.float() / temp, dim=-1)  # [N, V]
    if top_p < 1.0:
        sorted_probs, sorted_idx = probs.sort(dim=-1, descending=True)  # [N, V]
        # Keep the smallest prefix whose mass reaches top_p (always at least the top token).
        drop = sorted_probs.cumsum(dim=-1) - sorted_probs > top_p  # [N, V]
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, sorted_idx, sorted_probs)  # [N, V]
    # Inverse-CDF sampling: one uniform per row. torch.multinomial draws V exponentials per row instead, which cost
    # ~10x more on the CPU (a 49k vocabulary x 8 rows: ~30 ms against ~3 ms, every decode step).
    cdf = probs.cumsum(dim=-1)  # [N, V] non-decreasing; the last column is the (unnormalised) total
    total = cdf[:, -1:]  # [N, 1]
    if not bool(torch.isfinite(total).all() and (total > 0).all()):
        raise RuntimeError(
            "The next-token probabilities contain nan/inf (the model's weights or activations diverged): "
            "lower optim.lr, keep optim.max_grad_norm at 1.0, or train in fp32."
        )
    if uniform is None:
        uniform = torch.rand(total.shape[0], generator=generator, device=probs.device)  # [N]
    u = uniform.to(cdf.dtype).unsqueeze(1) * total  # [N, 1]
    u = torch.minimum(u, torch.nextafter(total, torch.zeros_like(total)))  # u < total despite rounding
    # right=True: the first index whose cdf exceeds u, so a zero-probability token (flat cdf) is never picked.
    tokens = torch.searchsorted(cdf, u, right=True).squeeze(-1)  # [N]
    if greedy is not None and bool(greedy.any()):
        tokens = torch.where(greedy, logits.argmax(dim=-1), tokens)  # [N]
    if not return_logprobs:
        return tokens
    logp = (probs.gather(1, tokens.unsqueeze(1)) / total).squeeze(1).log()  # [N]
    if greedy is not None:
        logp = logp.masked_fill(greedy, 0.0)
    return tokens, logp


def _eos_ids(model, tokenizer) -> set[int]:
    ids = {tokenizer.eos_token_id}
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(gen_eos, int):
        ids.add(gen_eos)
    elif isinstance(gen_eos, (list, tuple)):
        ids.update(gen_eos)
    return {i for i in ids if i is not None}


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: list[str],
    num_generations: int = 1,
    max_new_tokens: int = 64,
    temperature: float | list[float] | torch.Tensor = 1.0,
    top_p: float = 1.0,
    stop_strings: tuple[str, ...] = (rewards.ANSWER_CLOSE,),
    generator: torch.Generator | None = None,
    return_logprobs: bool = False,
) -> Rollout:
    """Sample ``num_generations`` completions for each prompt text.

    Args:
        model: a causal LM (HF ``PreTrainedModel`` or a peft model); its train/eval mode is restored afterwards.
        tokenizer: its tokenizer; prompts are tokenized without adding special tokens (templates already have them).
        prompts: rendered prompt texts (chat template applied by the caller).
        num_generations: G completions per prompt.
        max_new_tokens: completion cap.
        temperature: 0 for greedy; or G values, one per completion of each group (evaluation decodes its greedy
            answer and its samples in one batch with ``[0, T, T, ...]``).
        top_p: nucleus threshold.
        stop_strings: a row stops once its text contains one of these.
        generator: the random source for sampling (device must match the model's).
        return_logprobs: also fill ``Rollout.logprobs`` with the sampler's own log-probability of each token.

    Returns:
        A :class:`Rollout` with N = len(prompts) * num_generations rows.
    """
    if not prompts:
        raise ValueError("generate() needs at least one prompt")
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos_ids = torch.tensor(sorted(_eos_ids(model, tokenizer)), device=device)  # [E]
    row_temp = _row_temperatures(temperature, num_generations, len(prompts), device)  # float or [N]
    was_training = model.training
    model.eval()

    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    tokenizer.padding_side = old_side
    unique_ids = enc["input_ids"].to(device)  # [B, P]
    unique_mask = enc["attention_mask"].to(device)  # [B, P]
    prompt_ids = unique_ids.repeat_interleave(num_generations, dim=0)  # [N, P]
    prompt_mask = unique_mask.repeat_interleave(num_generations, dim=0)  # [N, P]
    n = prompt_ids.shape[0]

    out = torch.full((n, max_new_tokens), pad_id, dtype=torch.long, device=device)  # [N, C]
    out_logps = torch.zeros((n, max_new_tokens), dtype=torch.float32, device=device)  # [N, C]
    lengths = torch.zeros(n, dtype=torch.long, device=device)  # [N]
    stopped = torch.zeros(n, dtype=torch.bool, device=device)  # [N]
    active = torch.arange(n, device=device)  # rows in the decode batch, indices into [N]
    running = torch.ones(n, dtype=torch.bool, device=device)  # [n_active] which of them have not stopped
    stops = StopMatcher(tokenizer, stop_strings, device)

    # Prefill each distinct prompt once (their common prefix once for all: minirl.prefill), then give each of its G
    # completions a copy of its KV cache, with room reserved for the completion so that decode steps write in place
    # (minirl.rollout.kv_cache).
    pre = prefill(model, unique_ids, unique_mask, pad_id)
    cache = reserve(pre.cache, max_new_tokens)
    cache.batch_repeat_interleave(num_generations)
    logits = pre.last_logits.repeat_interleave(num_generations, dim=0)  # [N, V]
    base = pre.attention_mask.repeat_interleave(num_generations, dim=0)  # [N, W]
    attn = torch.cat([base, base.new_ones(n, max_new_tokens)], dim=1)  # [N, W + C]
    width = base.shape[1]  # attention columns filled so far
    position_ids = (
        (pre.next_position - 1).repeat_interleave(num_generations).unsqueeze(1)
    )  # [N, 1] last position
    step_input = None  # [n_active, 1] the token sampled at the previous step
    for t in range(max_new_tokens):
        if t > 0:
            step_out = model(
                input_ids=step_input,
                attention_mask=attn[:, : width + t],
                position_ids=position_ids,
                **with_cache(cache),
                use_cache=True,
            )
            cache = getattr(step_out, CACHE)
            logits = step_out.logits[:, -1, :]  # [n_active, V]
        # One uniform per row of the whole batch at every step, so a row's tokens do not depend on which other rows
        # are still running.
        uniform = None if isinstance(row_temp, float) and row_temp == 0 else _uniforms(n, generator, device)
        temp = row_temp[active] if isinstance(row_temp, torch.Tensor) else row_temp
        next_tok, logp = sample_next_token(
            logits,
            temp,
            top_p,
            generator,
            uniform=None if uniform is None else uniform[active],
            return_logprobs=True,
        )
        live = active[running]  # rows of [N] still generating
        out[live, t] = next_tok[running]
        out_logps[live, t] = logp[running]
        lengths[live] = t + 1

        done_now = torch.isin(next_tok, eos_ids) & running  # [n_active]
        done_now |= torch.tensor(stops.hits(out[active, : t + 1], next_tok, only=running), device=device)
        stopped[active[done_now]] = True
        running &= ~done_now
        if not bool(running.any()) or t == max_new_tokens - 1:
            break
        # Finished rows leave the batch (and the KV cache) once they are an eighth of it: a compaction copies the
        # whole cache, so doing it for every row that stops would cost more than decoding a few idle rows.
        if int((~running).sum()) * 8 >= running.numel():
            keep = running.nonzero(as_tuple=True)[0]  # [n_keep]
            active, running = active[keep], running[keep]
            cache.batch_select_indices(keep)
            attn = attn[keep]
            next_tok = next_tok[keep]
            position_ids = position_ids[keep]
        position_ids = position_ids + 1  # [n_active, 1]
        step_input = next_tok.unsqueeze(1)  # [n_active, 1]

    steps = torch.arange(max_new_tokens, device=device)  # [C]
    completion_mask = (steps.unsqueeze(0) < lengths.unsqueeze(1)).long()  # [N, C]
    out = out.masked_fill(completion_mask == 0, pad_id)
    # Trim the common right padding so training does not pay for columns nobody generated.
    width = max(int(lengths.max()), 1)
    out, completion_mask = out[:, :width], completion_mask[:, :width]
    texts = tokenizer.batch_decode(
        [row[: int(length)] for row, length in zip(out, lengths)], skip_special_tokens=True
    )
    if was_training:
        model.train()
    return Rollout(
        prompt_ids=prompt_ids,
        prompt_mask=prompt_mask,
        completion_ids=out,
        completion_mask=completion_mask,
        truncated=~stopped,
        texts=texts,
        num_generations=num_generations,
        prompts=list(prompts),
        logprobs=out_logps[:, :width] * completion_mask if return_logprobs else None,
    )


def _row_temperatures(temperature, num_generations: int, num_prompts: int, device) -> float | torch.Tensor:
    """One float for every row, or ``[N]`` from G per-completion temperatures repeated for each prompt."""
    if isinstance(temperature, (int, float)):
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        return float(temperature)
    temps = torch.as_tensor(temperature, dtype=torch.float32).flatten()  # [G]
    if temps.numel() != num_generations or bool((temps < 0).any()):
        raise ValueError(
            f"per-completion temperatures need {num_generations} values >= 0 (one per completion of a group), "
            f"got {temps.tolist()}"
        )
    return temps.repeat(num_prompts).to(device)  # [N]


def _uniforms(n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device)  # [N]
