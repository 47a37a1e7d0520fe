"""The weights a sampler copy of the policy needs: the policy's own, or for a peft LoRA policy the merged weights.

A sampler that is not the trained model itself (vLLM, or the bf16 copy of ``minirl.rollout.engines``) samples with
``W + scale * B @ A`` for every LoRA layer, under the base model's parameter names. The deltas are computed without
touching the trained model: ``merge_and_unload()`` would give the same tensors but strip the adapter from it, and
``merge_adapter`` / ``unmerge_adapter`` would leave rounding error in its frozen base weights.
"""

from __future__ import annotations

import torch

_PEFT_PREFIX = "base_model.model."


@torch.no_grad()
def lora_deltas(model) -> dict[str, torch.Tensor]:
    """For a peft LoRA model, ``{name of a LoRA layer's base weight (peft naming): W delta}`` of its active
    adapters; ``{}`` for a plain model. Layers already merged or with adapters disabled are left out."""
    if not hasattr(model, "peft_config"):
        return {}
    from peft.tuners.lora import LoraLayer

    deltas: dict[str, torch.Tensor] = {}
    for mod_name, module in model.named_modules():
        if not isinstance(module, LoraLayer) or module.merged or module.disable_adapters:
            continue
        for adapter in module.active_adapters:
            if adapter not in module.lora_A:
                continue
            if adapter in getattr(module, "lora_variant", {}) or module.lora_bias.get(adapter, False):
                raise NotImplementedError(
                    f"sync_weights: {mod_name} uses a LoRA variant (DoRA, lora_bias); only plain LoRA is merged."
                )
            key = f"{mod_name}.base_layer.weight"
            delta = module.get_delta_weight(adapter).detach()
            deltas[key] = deltas[key] + delta if key in deltas else delta
    return deltas


def base_name(model, name: str) -> str:
    """A peft parameter name as the plain base model names it (no ``base_model.model.``, ``.base_layer``)."""
    base = name.removeprefix(_PEFT_PREFIX).replace(".base_layer", "")
    for adapter in getattr(model, "peft_config", {}):
        base = base.replace(f".modules_to_save.{adapter}", "")
    return base


def merged_state_dict(model) -> dict[str, torch.Tensor]:
    """The weights vLLM should sample with: ``model.state_dict()``, or for a peft LoRA model the merged weights
    ``W + scale * B @ A`` under the base model's names, computed without touching ``model``.

    ``merge_and_unload()`` would give the same tensors but strip the adapter from the model being trained (and
    ``merge_adapter`` / ``unmerge_adapter`` would leave rounding error in the base weights); here each LoRA layer's
    delta is added to a copy of its base weight (layers already merged or with adapters disabled are sent as they are). Names lose ``base_model.model.`` and ``.base_layer``; ``lora_*`` and
    ``original_module`` entries are dropped, ``modules_to_save.<adapter>`` copies replace the originals.
    """
    if not hasattr(model, "peft_config"):
        return model.state_dict()
    deltas = lora_deltas(model)
    out: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        if "lora_" in name or ".original_module." in name:
            continue
        if name in deltas:
            value = value + deltas[name].to(value.dtype)
        out[base_name(model, name)] = value
    return out
