"""The clipped GRPO objective and its DAPO / Dr. GRPO normalisations.

GRPO (DeepSeekMath, arXiv:2402.03300, eq. 3) maximises, for a group of G completions o_i with advantages A_i,

    J = 1/G sum_i 1/|o_i| sum_t { min( r_it A_i, clip(r_it, 1-eps, 1+eps) A_i ) - beta KL_it },
    r_it = pi_theta(o_it | q, o_i,<t) / pi_old(o_it | q, o_i,<t),

with the per-token "k3" KL estimator (eq. 4), unbiased and always >= 0:

    KL_it = pi_ref / pi_theta - log(pi_ref / pi_theta) - 1 = exp(ref - logp) - (ref - logp) - 1.

We minimise ``loss = -J``. The variants differ only in how the per-token terms are averaged (``loss_type``):

- ``"grpo"``:    mean over the tokens of each completion, then mean over completions (eq. 3 as written). Long
  completions get less weight per token, which Dr. GRPO shows lets wrong answers grow long.
- ``"dapo"``:    sum over all tokens / number of tokens in the batch (DAPO, arXiv:2503.14476, eq. 8: token-level
  policy gradient). This is TRL's default.
- ``"dr_grpo"``: sum over all tokens / (N * max_completion_length), a constant (Dr. GRPO, arXiv:2503.20783, sec. 3.1).

Each divides a sum by one ``normalizer``, computed in ``minirl.grpo.normalize``, also for a minibatch split into
micro-batches and processes, whose parts' losses then add up to the minibatch's.

DAPO's "clip-higher" (sec. 3.1) is ``epsilon_high > epsilon_low``: a larger upper bound lets low-probability
tokens with positive advantage grow, against entropy collapse (DAPO uses 0.2 / 0.28).

When the data is on-policy (one gradient step per rollout), pi_old = pi_theta: pass ``old_logps=None`` and the
ratio is ``exp(logp - logp.detach())``, equal to 1 but with the policy gradient ``A * grad log pi`` (as TRL does).

**When the sampler is not the trained policy** (a bf16 copy, vLLM in bf16: ``minirl.rollout.engines``), the
completions come from pi_sampler, not pi_old, and the surrogate is biased. Truncated importance sampling (TIS; Yao et
al. 2025, "Your efficient RL framework secretly brings you off-policy RL training"; TRL's
``vllm_importance_sampling_mode="token_truncate"``, verl's rollout correction) reweights each token's surrogate by

    w_it = min( pi_old(o_it | ...) / pi_sampler(o_it | ...), C ),    detached,

before the KL term is added (as TRL does). ``C`` = ``tis_cap`` (2 here, TIS's choice; TRL uses 3). With the exact
engine no sampler log-probs are passed and the loss is the one above, unchanged.

Checked against TRL 1.16 ``GRPOTrainer._compute_loss`` (loss and every gradient, ``tests/test_grpo_trl_parity.py``)
with ``importance_sampling_level="token"``. Where we differ:

- KL bias correction: TRL 1.16 by default (``use_bias_correction_kl=True``, from DeepSeek-V3.2) multiplies the KL
  term by the (unclipped) ratio, which changes its gradient even on-policy. We default to the paper's plain
  ``beta * KL`` (DeepSeekMath eq. 3, as in R1); ``use_bias_correction_kl=True`` gives TRL's default.
- Not implemented: sequence-level ratios (GSPO, ``importance_sampling_level="sequence"``); TRL's other loss types
  (``bnpo``, which is ``"dapo"`` with the default ``normalizer``; ``cispo``, ``sapo``, ``luspo``, ``vespo``); the
  entropy mask/bonus; off-policy masking; of TRL's sampler corrections, all but TIS above (the ``token_mask`` and
  ``sequence_*`` modes, and the lower bound ``vllm_importance_sampling_clip_min``).
- Denominators under gradient accumulation: see ``minirl.grpo.normalize``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from minirl.grpo.normalize import aggregate, check_loss_type


@dataclass
class LossOutput:
    """The scalar loss to backpropagate and floats to log.

    ``metrics`` holds ``clip_ratio/low_mean``, ``clip_ratio/high_mean``, ``clip_ratio/region_mean`` (share of
    completion tokens whose clip is active, i.e. whose gradient is cut), ``ratio/mean``, ``num_tokens``, ``kl``
    when ``ref_logps`` is given (mean k3 KL per token, ratio-weighted with ``use_bias_correction_kl``, as TRL) and
    ``tis/mean``, ``tis/capped_frac`` when ``sampling_logps`` is.
    """

    loss: Tensor
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LossParams:
    """The hyperparameters of :func:`grpo_loss` (module docstring), checked when built.

    >>> LossParams(epsilon_high=0.28, delta=1.2)  # DAPO's clip-higher, with a delta below it
    Traceback (most recent call last):
    ValueError: delta must be > 1 + epsilon_high = 1.28, got 1.2
    """

    loss_type: str = "dapo"
    """One of ``LOSS_TYPES``: how the per-token losses are averaged (module docstring)."""
    epsilon_low: float = 0.2
    """The ratio is clipped to ``[1 - epsilon_low, 1 + epsilon_high]``."""
    epsilon_high: float = 0.2
    """``> epsilon_low`` is DAPO's clip-higher."""
    beta: float = 0.0
    """KL coefficient; ``> 0`` needs ``ref_logps``."""
    delta: float | None = None
    """Cap on the unclipped ratio (TRL's two-sided clipping, :func:`clipped_surrogate`); ``> 1 + epsilon_high``."""
    use_bias_correction_kl: bool = False
    """Multiply the KL term by the ratio (TRL 1.16's default; off here, see the module docstring)."""
    tis_cap: float = 2.0
    """The TIS cap ``C`` (:func:`tis_weights`), used when ``sampling_logps`` are passed."""

    def __post_init__(self) -> None:
        check_loss_type(self.loss_type)
        if not (0 <= self.epsilon_low < 1 and self.epsilon_high >= 0):
            raise ValueError(
                f"need 0 <= epsilon_low < 1 and epsilon_high >= 0, got {self.epsilon_low} and {self.epsilon_high}"
            )
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.delta is not None and self.delta <= 1 + self.epsilon_high:
            raise ValueError(f"delta must be > 1 + epsilon_high = {1 + self.epsilon_high}, got {self.delta}")


def importance_ratio(logps: Tensor, old_logps: Tensor | None) -> Tensor:
    """``r = pi_theta / pi_old = exp(logp - old_logp)``; on-policy (``old_logps=None``) 1 with the policy gradient.

    >>> importance_ratio(torch.tensor([[0.0]]), torch.tensor([[-0.5]])).item() == torch.tensor(0.5).exp().item()
    True
    """
    old = logps.detach() if old_logps is None else old_logps  # [N, C]
    return torch.exp(logps - old)  # [N, C]


def clipped_surrogate(
    ratio: Tensor, advantages: Tensor, epsilon_low: float, epsilon_high: float, delta: float | None = None
) -> Tensor:
    """Per-token PPO-clip loss ``-min(r A, clip(r, 1-eps_low, 1+eps_high) A)``.

    Args:
        ratio: ``[N, C]`` importance ratios.
        advantages: ``[N, 1]`` (or ``[N, C]``) advantages.
        epsilon_low, epsilon_high: clip range; ``epsilon_high > epsilon_low`` is DAPO's clip-higher.
        delta: optional upper bound on the *unclipped* ratio (two-sided clipping, INTELLECT-2 arXiv:2505.07291, as
            TRL's ``delta``): bounds the loss of negative-advantage tokens whose ratio exploded.

    >>> clipped_surrogate(torch.tensor([[1.5, 0.5]]), torch.tensor([[1.0]]), 0.2, 0.2).tolist()
    [[-1.2000000476837158, -0.5]]
    """
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)  # [N, C]
    if delta is not None:
        ratio = torch.clamp(ratio, max=delta)  # [N, C]
    return -torch.min(ratio * advantages, clipped * advantages)  # [N, C]


@torch.no_grad()
def tis_weights(old_logps: Tensor, sampling_logps: Tensor, cap: float) -> Tensor:
    """Truncated importance weights ``min(exp(old - sampling), cap)`` per token (module docstring). [N, C]

    >>> tis_weights(torch.tensor([[0.0, 0.0, -1.0]]), torch.tensor([[0.0, -2.0, 0.0]]), 2.0).tolist()
    [[1.0, 2.0, 0.3678794503211975]]
    """
    if cap <= 0:
        raise ValueError(f"the TIS cap must be > 0, got {cap}")
    return torch.exp(old_logps - sampling_logps).clamp(max=cap)  # [N, C]


def k3_kl(logps: Tensor, ref_logps: Tensor) -> Tensor:
    """Per-token k3 estimate of KL(pi_theta || pi_ref) (DeepSeekMath eq. 4): ``exp(d) - d - 1``, ``d = ref - logp``.

    >>> k3_kl(torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.0, -1.0]])).tolist()[0][0]
    0.0
    """
    diff = ref_logps - logps  # [N, C]
    return torch.exp(diff) - diff - 1  # [N, C]


@torch.no_grad()
def clip_metrics(
    ratio: Tensor, advantages: Tensor, mask: Tensor, epsilon_low: float, epsilon_high: float
) -> dict:
    """Share of real tokens where the clip is active (their gradient is zero), like TRL's ``clip_ratio/*``.

    Low: ``r < 1-eps_low`` with ``A < 0``; high: ``r > 1+eps_high`` with ``A > 0``; region: either.
    """
    low = (ratio < 1 - epsilon_low) & (advantages < 0)  # [N, C]
    high = (ratio > 1 + epsilon_high) & (advantages > 0)  # [N, C]
    n = mask.sum().clamp(min=1)
    values = torch.stack(
        [(low * mask).sum(), (high * mask).sum(), ((low | high) * mask).sum(), (ratio * mask).sum()]
    )
    low_mean, high_mean, region_mean, ratio_mean = (values / n).tolist()  # one device sync, not four
    return {
        "clip_ratio/low_mean": low_mean,
        "clip_ratio/high_mean": high_mean,
        "clip_ratio/region_mean": region_mean,
        "ratio/mean": ratio_mean,
        "num_tokens": float(mask.sum()),
    }


def _check_inputs(
    logps: Tensor,
    old_logps: Tensor | None,
    ref_logps: Tensor | None,
    sampling_logps: Tensor | None,
    advantages: Tensor,
    completion_mask: Tensor,
    beta: float,
) -> None:
    """Raise a clear ValueError on tensors the loss cannot use."""
    if logps.dim() != 2:
        raise ValueError(f"logps must be [N, C], got shape {tuple(logps.shape)}")
    same_shape = {"old_logps": old_logps, "ref_logps": ref_logps, "completion_mask": completion_mask,
                  "sampling_logps": sampling_logps}  # fmt: skip
    for name, t in same_shape.items():
        if t is not None and t.shape != logps.shape:
            raise ValueError(
                f"{name} must have the shape of logps {tuple(logps.shape)}, got {tuple(t.shape)}"
            )
    if advantages.shape != logps.shape[:1]:
        raise ValueError(f"advantages must be [N] = [{logps.shape[0]}], got shape {tuple(advantages.shape)}")
    if beta > 0 and ref_logps is None:
        raise ValueError(
            f"beta={beta} > 0 needs ref_logps (reference-model log-probs); pass them or set beta=0"
        )


def grpo_loss(
    logps: Tensor,
    old_logps: Tensor | None,
    ref_logps: Tensor | None,
    advantages: Tensor,
    completion_mask: Tensor,
    params: LossParams = LossParams(),
    *,
    normalizer: int | float | Tensor | None = None,
    sampling_logps: Tensor | None = None,
) -> LossOutput:
    """The GRPO loss of a batch of completions (module docstring: equations and variants).

    Args:
        logps: ``[N, C]`` log-probs of the completion tokens under the policy being trained (with gradient).
        old_logps: ``[N, C]`` log-probs under the policy that sampled them, or None when on-policy.
        ref_logps: ``[N, C]`` log-probs under the reference model; only needed when ``params.beta > 0``.
        advantages: ``[N]`` one advantage per completion.
        completion_mask: ``[N, C]`` 1 for real completion tokens, 0 for padding.
        params: loss type, clip range, KL and TIS settings.
        normalizer: the denominator (``minirl.grpo.normalize``); None is this call's own ``loss_denominator``,
            which ``dr_grpo`` lacks. A trainer passes ``minibatch_normalizer``: micro-batches and processes then
            add up to the minibatch's loss.
        sampling_logps: ``[N, C]`` log-probs under the engine that sampled the completions when it is not the
            trained policy (e.g. a bf16 copy); the surrogate is then reweighted by :func:`tis_weights`.

    >>> logps = torch.zeros(2, 3, requires_grad=True)
    >>> mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    >>> out = grpo_loss(logps, None, None, torch.tensor([1.0, -1.0]), mask)
    >>> round(out.loss.item(), 4)  # (-1 -1 -1 + 1) / 4 real tokens
    -0.5
    """
    p = params
    _check_inputs(logps, old_logps, ref_logps, sampling_logps, advantages, completion_mask, p.beta)
    mask = completion_mask.to(logps.dtype)  # [N, C]
    adv = advantages.to(logps.dtype).unsqueeze(1)  # [N, 1] the same advantage for every token of a completion
    ratio = importance_ratio(logps, old_logps)  # [N, C]
    per_token = clipped_surrogate(ratio, adv, p.epsilon_low, p.epsilon_high, p.delta)  # [N, C]
    metrics = clip_metrics(ratio, adv, mask, p.epsilon_low, p.epsilon_high)
    if sampling_logps is not None:
        old = logps.detach() if old_logps is None else old_logps  # [N, C]
        w = tis_weights(old, sampling_logps, p.tis_cap) * mask  # [N, C] 0 at padding
        per_token = per_token * w  # [N, C]
        n = mask.sum().clamp(min=1)
        metrics["tis/mean"] = float(w.sum() / n)
        metrics["tis/capped_frac"] = float(((w >= p.tis_cap) * mask).sum() / n)
    if ref_logps is not None:
        kl = k3_kl(logps, ref_logps)  # [N, C]
        if p.use_bias_correction_kl:
            kl = kl * ratio  # [N, C] unbiased for KL(pi_theta || pi_ref) on pi_old's samples
        metrics["kl"] = float((kl.detach() * mask).sum() / mask.sum().clamp(min=1))
        if p.beta > 0:
            per_token = per_token + p.beta * kl  # [N, C]
    loss = aggregate(per_token, mask, p.loss_type, normalizer)
    return LossOutput(loss=loss, metrics=metrics)
