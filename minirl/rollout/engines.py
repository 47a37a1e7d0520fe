"""Rollout engines: who samples the completions the trainer learns from, behind one :class:`Rollout` result.

- ``exact`` (:class:`ExactEngine`): the decode loop of :func:`minirl.rollout.generate` over the policy being
  trained, in the trainer's own precision. Its samples come from the trained policy itself (on-policy).
- ``bf16`` (:class:`CastEngine`): the same decode loop over a bf16 copy of the policy, refreshed after every
  optimizer step (:meth:`RolloutEngine.sync_weights`). On hardware with native bf16 matmuls (a GPU, or a CPU with
  AMX) decode is memory- and compute-cheaper; elsewhere (AVX2-only CPUs) bf16 is several times *slower* than fp32.
- ``vllm`` (:class:`minirl.backends.vllm_rollout.VLLMEngine`): vLLM on a GPU.

When the sampler is not the trained policy (``exact`` is False: a bf16 copy, vLLM in bf16, any other numeric path),
its samples are slightly off-policy. The engine then returns its own token log-probs (``Rollout.logprobs``) and the
loss applies truncated importance sampling (:func:`minirl.grpo.tis_weights`), as TRL
(``vllm_importance_sampling_correction``) and verl (rollout correction) do for vLLM.

``auto`` picks ``bf16`` where bf16 is native and the policy trains in fp32 on that device (CPU with AMX), and
``exact`` otherwise (on a GPU the policy already runs under bf16 autocast, so a copy would save nothing).
"""

from __future__ import annotations

import copy

import torch

from minirl.rollout.generate import Rollout, generate

ENGINES = ("auto", "exact", "bf16", "vllm", "minirl")
"""Engine names; ``minirl`` is the old name of ``exact``."""


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (Intel AMX-BF16), where a bf16 sampler pays.

    >>> isinstance(cpu_has_native_bf16(), bool)
    True
    """
    check = getattr(torch.cpu, "_is_amx_tile_supported", None)  # torch >= 2.3
    return bool(check()) if check is not None else False


def resolve_engine(name: str, device: torch.device | str) -> str:
    """The engine ``name`` stands for on ``device``: ``auto`` becomes ``bf16`` or ``exact`` (module docstring).

    >>> resolve_engine("exact", "cpu"), resolve_engine("auto", "cuda")
    ('exact', 'exact')
    """
    if name not in ENGINES:
        raise ValueError(f"rollout.engine must be one of {ENGINES}, got '{name}'")
    if name != "auto":
        return "exact" if name == "minirl" else name
    return "bf16" if torch.device(device).type == "cpu" and cpu_has_native_bf16() else "exact"


class RolloutEngine:
    """Samples completions for the trainer.

    Subclasses implement :meth:`generate`; those that sample from a copy of the policy also :meth:`sync_weights`.
    ``exact`` says whether the samples come from the trained policy's own numerics (then no correction is needed).
    """

    name = "base"
    exact = True

    def generate(self, tokenizer, prompts: list[str], **kwargs) -> Rollout:
        """Sample completions (the keyword arguments of :func:`minirl.rollout.generate`)."""
        raise NotImplementedError

    def sync_weights(self) -> None:
        """Bring the sampler up to date with the policy (called after every optimizer step)."""


class ExactEngine(RolloutEngine):
    """The decode loop over the policy itself.

    >>> from minirl.testing import make_tiny_model, make_tiny_tokenizer
    >>> tok = make_tiny_tokenizer()
    >>> roll = ExactEngine(make_tiny_model(len(tok))).generate(tok, ["hi"], num_generations=2, max_new_tokens=3)
    >>> roll.completion_ids.shape[0], roll.logprobs is None
    (2, True)
    """

    name = "exact"
    exact = True

    def __init__(self, policy: torch.nn.Module):
        self.policy = policy

    def generate(self, tokenizer, prompts: list[str], **kwargs) -> Rollout:
        kwargs.pop("return_logprobs", None)  # on-policy: the trainer's own log-probs are the sampler's
        return generate(self.policy, tokenizer, prompts, **kwargs)


class CastEngine(RolloutEngine):
    """The decode loop over a copy of the policy in ``dtype`` (bf16), refreshed by :meth:`sync_weights`.

    Only the trainable parameters are copied at each sync (all of them with full fine-tuning, the adapter's with
    LoRA), in place, so the copy's memory is allocated once.

    Args:
        policy: the model being trained (a ``transformers`` model or a peft wrapper of one).
        dtype: the sampler's precision.
    """

    name = "bf16"
    exact = False

    def __init__(self, policy: torch.nn.Module, dtype: torch.dtype = torch.bfloat16):
        self.policy = policy
        self.dtype = dtype
        self.copy = copy.deepcopy(policy).to(dtype).eval().requires_grad_(False)
        own = dict(self.copy.named_parameters())
        self._pairs = [(p, own[name]) for name, p in policy.named_parameters() if p.requires_grad]

    @torch.no_grad()
    def sync_weights(self) -> None:
        for src, dst in self._pairs:
            dst.copy_(src)  # cast to the copy's dtype

    def generate(self, tokenizer, prompts: list[str], **kwargs) -> Rollout:
        kwargs["return_logprobs"] = True
        return generate(self.copy, tokenizer, prompts, **kwargs)


def make_engine(name: str, policy: torch.nn.Module, device: torch.device | str = "cpu") -> RolloutEngine:
    """The engine ``name`` (``auto``, ``exact``, ``bf16``) over ``policy``; ``vllm`` is built by the recipe.

    >>> from minirl.testing import make_tiny_model
    >>> make_engine("bf16", make_tiny_model(16)).copy.dtype
    torch.bfloat16
    """
    resolved = resolve_engine(name, device)
    if resolved == "exact":
        return ExactEngine(policy)
    if resolved == "bf16":
        return CastEngine(policy, torch.bfloat16)
    raise ValueError(
        "rollout.engine 'vllm' is attached by the recipe (minirl.backends.vllm_rollout.VLLMEngine), not built here"
    )
