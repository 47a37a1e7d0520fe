"""Rollout engines: who samples the completions the trainer learns from, behind one :class:`Rollout` result.

- ``exact`` (:class:`ExactEngine`): the decode loop of :func:`minirl.rollout.generate` over the policy being
  trained, in the trainer's own precision. Its samples come from the trained policy itself (on-policy).
- ``bf16`` and ``fp32`` (:class:`CopyEngine`): the same decode loop over a plain copy of the policy (LoRA merged into
  its base weights) in that precision, refreshed after every optimizer step (:meth:`RolloutEngine.sync_weights`).
  The merged copy saves LoRA's two extra matmuls per layer; bf16 halves the weight bytes, which is what bounds a
  decode step on a CPU: even without native bf16 matmuls the bf16 copy decodes faster than fp32, close to fp32's
  distribution (docs/benchmarks.md has the measurements, ``benchmarks/int8.py`` why there is no int8 copy).
- ``vllm`` (:class:`minirl.backends.vllm_rollout.VLLMRollout`): vLLM on a GPU.

When the sampler is not the trained policy (``exact`` is False: a copy, vLLM in bf16, any other numeric path),
its samples are slightly off-policy. The engine then returns its own token log-probs (``Rollout.logprobs``) and the
loss applies truncated importance sampling (:func:`minirl.grpo.tis_weights`), as TRL
(``vllm_importance_sampling_correction``) and verl (rollout correction) do for vLLM.

``auto`` is the merged ``fp32`` copy for a LoRA policy on a CPU (its samples are the policy's up to fp32 rounding,
one matmul per layer instead of three) and ``exact`` otherwise; the config's default is ``exact``. The bf16 copy is
faster, but on the R1-Zero default (full fine-tuning, small learning rate) most of the policy's updates are finer
than bf16's rounding step, so the copy lags the policy and learning changed (docs/benchmarks.md, "The bf16 copy on
the R1-Zero default"). ``bf16`` stays available by name.
"""

from __future__ import annotations

import copy

import torch

from minirl.config import ENGINES
from minirl.rollout.generate import Rollout, generate
from minirl.rollout.weights import base_name, lora_deltas


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (Intel AMX-BF16); recorded by the benchmarks.

    >>> isinstance(cpu_has_native_bf16(), bool)
    True
    """
    check = getattr(torch.cpu, "_is_amx_tile_supported", None)  # torch >= 2.3
    return bool(check()) if check is not None else False


def resolve_engine(name: str, device: torch.device | str, lora: bool = False) -> str:
    """The engine ``name`` stands for on ``device``: ``auto`` becomes ``fp32`` for a LoRA policy on a CPU and
    ``exact`` otherwise (module doc: never ``bf16``, which does not keep learning unchanged).

    >>> resolve_engine("exact", "cpu"), resolve_engine("auto", "cuda"), resolve_engine("minirl", "cpu")
    ('exact', 'exact', 'exact')
    >>> resolve_engine("auto", "cpu", lora=True)
    'fp32'
    """
    if name not in ENGINES:
        raise ValueError(f"rollout.engine must be one of {ENGINES}, got '{name}'")
    if name != "auto":
        return "exact" if name == "minirl" else name
    return "fp32" if lora and torch.device(device).type == "cpu" else "exact"


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


class CopyEngine(RolloutEngine):
    """The decode loop over a plain copy of the policy in ``dtype``, refreshed by :meth:`sync_weights`.

    For a LoRA policy the copy is the base model with the adapter merged in (``W + scale * B @ A``,
    ``minirl.rollout.weights``): one matmul per linear layer instead of three (faster decoding: docs/benchmarks.md). At each sync only what training changed is copied, in place: every
    trainable weight with full fine-tuning, the merged LoRA layers with LoRA.

    Args:
        policy: the model being trained (a ``transformers`` model or a peft wrapper of one).
        dtype: the sampler's precision (``torch.bfloat16`` for the ``bf16`` engine, ``torch.float32`` for ``fp32``).
    """

    exact = False

    def __init__(self, policy: torch.nn.Module, dtype: torch.dtype = torch.bfloat16):
        self.policy = policy
        self.dtype = dtype
        self.name = {torch.bfloat16: "bf16", torch.float32: "fp32"}.get(dtype, str(dtype))
        lora = hasattr(policy, "peft_config")
        plain = copy.deepcopy(policy).merge_and_unload() if lora else copy.deepcopy(policy)
        self.copy = plain.to(dtype).eval().requires_grad_(False)
        own, params = dict(self.copy.named_parameters()), dict(policy.named_parameters())
        lora_layers = list(lora_deltas(policy)) if lora else []
        # LoRA: (the policy's frozen base weight, the copy's merged weight) per adapted layer
        self._lora = {name: (params[name], own[base_name(policy, name)]) for name in lora_layers}
        # full fine-tuning: (trained weight, the copy's weight)
        self._pairs = [] if lora else [(p, own[n]) for n, p in policy.named_parameters() if p.requires_grad]
        self.sync_weights()

    @torch.no_grad()
    def sync_weights(self) -> None:
        for src, dst in self._pairs:
            dst.copy_(src)  # cast to the copy's dtype
        if self._lora:
            for name, delta in lora_deltas(self.policy).items():
                base, dst = self._lora[name]
                dst.copy_(base + delta.to(base.dtype))

    def generate(self, tokenizer, prompts: list[str], **kwargs) -> Rollout:
        kwargs["return_logprobs"] = True
        return generate(self.copy, tokenizer, prompts, **kwargs)


def make_engine(name: str, policy: torch.nn.Module, device: torch.device | str = "cpu") -> RolloutEngine:
    """The engine ``name`` (``auto``, ``exact``, ``bf16``) over ``policy``; ``vllm`` is built by the recipe.

    >>> from minirl.testing import make_tiny_model
    >>> make_engine("bf16", make_tiny_model(16)).copy.dtype
    torch.bfloat16
    """
    resolved = resolve_engine(name, device, lora=hasattr(policy, "peft_config"))
    if resolved == "exact":
        return ExactEngine(policy)
    if resolved in ("bf16", "fp32"):
        return CopyEngine(policy, torch.bfloat16 if resolved == "bf16" else torch.float32)
    raise ValueError(
        "rollout.engine 'vllm' is attached by the recipe (minirl.backends.vllm_rollout.VLLMRollout), not built here"
    )
