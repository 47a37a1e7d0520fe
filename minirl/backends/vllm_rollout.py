"""``rollout.engine: vllm``: sample the G completions of GRPO's rollout (DeepSeekMath arXiv:2402.03300 eq. 3) with
vLLM instead of our decode loop, on a GPU where vLLM is installed.

A thin adapter: vLLM's ``RequestOutput`` objects become our :class:`~minirl.rollout.generate.Rollout` (same row
layout: the G completions of prompt g in rows ``g*G .. g*G+G-1``), so rewards, advantages and the loss are unchanged.
Before each rollout the policy's current weights are copied into the vLLM engine (``sync_weights``), since GRPO
samples from the policy being trained.

UNTESTED HERE: vLLM needs a CUDA GPU and is not installed on the machines this project is tested on; only the
"not installed" message, the output conversion and the weights ``sync_weights`` hands the engine (full and LoRA,
with stand-in objects) are tested. vLLM's internal path to the model (used by ``sync_weights``) changes between its
versions; for production multi-GPU runs prefer ``run.backend: trl`` with TRL's vLLM integration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

import rewards
from minirl.rollout.generate import Rollout
from minirl.rollout.weights import merged_state_dict

INSTALL_HINT = (
    "rollout.engine=vllm needs vLLM, which is not installed: pip install vllm (CUDA GPU only), "
    "or use --rollout.engine minirl (the default)."
)


def require_vllm():
    """Import and return the ``vllm`` module, or raise a ``ModuleNotFoundError`` that says ``pip install vllm``.

    >>> import importlib.util
    >>> if importlib.util.find_spec("vllm") is None:
    ...     try:
    ...         require_vllm()
    ...     except ImportError as err:
    ...         assert "pip install vllm" in str(err)
    """
    try:
        import vllm
    except ImportError as err:
        raise ModuleNotFoundError(f"{INSTALL_HINT} ({err})", name="vllm") from None
    return vllm


def rollout_from_outputs(
    outputs: Sequence[Any],
    prompts: list[str],
    tokenizer,
    num_generations: int,
    device: torch.device | str = "cpu",
) -> Rollout:
    """Convert vLLM ``RequestOutput``s (one per prompt, ``.prompt_token_ids`` and ``.outputs[k].token_ids`` /
    ``.finish_reason``) into a :class:`Rollout`: prompts left-padded, completions right-padded.

    A completion is ``truncated`` when vLLM stopped it for length (``finish_reason == "length"``).
    """
    if len(outputs) != len(prompts):
        raise ValueError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompt_rows, comp_rows, truncated = [], [], []
    for i, out in enumerate(outputs):
        if len(out.outputs) != num_generations:
            raise ValueError(
                f"prompt {i}: vLLM returned {len(out.outputs)} completions, expected {num_generations}"
            )
        for comp in out.outputs:
            prompt_rows.append(list(out.prompt_token_ids))
            comp_rows.append(list(comp.token_ids))
            truncated.append(comp.finish_reason == "length")
    p_len = max(len(r) for r in prompt_rows)
    c_len = max(max(len(r) for r in comp_rows), 1)
    prompt_ids = torch.tensor([[pad] * (p_len - len(r)) + r for r in prompt_rows])  # [N, P]
    prompt_mask = torch.tensor([[0] * (p_len - len(r)) + [1] * len(r) for r in prompt_rows])  # [N, P]
    completion_ids = torch.tensor([r + [pad] * (c_len - len(r)) for r in comp_rows])  # [N, C]
    completion_mask = torch.tensor([[1] * len(r) + [0] * (c_len - len(r)) for r in comp_rows])  # [N, C]
    return Rollout(
        prompt_ids=prompt_ids.to(device),
        prompt_mask=prompt_mask.to(device),
        completion_ids=completion_ids.to(device),
        completion_mask=completion_mask.to(device),
        truncated=torch.tensor(truncated, device=device),
        texts=tokenizer.batch_decode(comp_rows, skip_special_tokens=True),
        num_generations=num_generations,
        prompts=list(prompts),
    )


def sync_weights(llm, model) -> None:
    """Copy the policy's current weights into the vLLM engine (in-process engine, vLLM 0.6-0.10 layout).

    A LoRA policy is sent merged (:func:`merged_state_dict`) and keeps its adapter for training.
    """
    engine_model = llm.llm_engine.model_executor.driver_worker.model_runner.model
    engine_model.load_weights(merged_state_dict(model).items())


class VLLMRollout:
    """A drop-in for :meth:`GRPOTrainer.rollout`: ``attach(trainer)`` routes the trainer's sampling through vLLM.

    Args:
        model_path: checkpoint directory vLLM loads first (the weights are then synced from the policy each step).
        gpu_memory_utilization: vLLM's share of the GPU memory; the rest is left to training.
    """

    def __init__(self, model_path: str, gpu_memory_utilization: float = 0.3, dtype: str = "bfloat16"):
        vllm = require_vllm()
        self._vllm = vllm
        self.llm = vllm.LLM(model=model_path, gpu_memory_utilization=gpu_memory_utilization, dtype=dtype)

    def attach(self, trainer) -> None:
        """Replace ``trainer.rollout`` by a vLLM-backed one with the run's sampling settings."""
        r = trainer.cfg.rollout

        def rollout(examples, num_generations=None, temperature=None, max_new_tokens=None) -> Rollout:
            sync_weights(self.llm, trainer.unwrapped)
            g = num_generations or r.num_generations
            params = self._vllm.SamplingParams(
                n=g,
                temperature=r.temperature if temperature is None else temperature,
                top_p=r.top_p,
                max_tokens=max_new_tokens or r.max_new_tokens,
                stop=[rewards.ANSWER_CLOSE] if r.stop_at_answer else None,
                include_stop_str_in_output=True,
                seed=trainer.cfg.run.seed + trainer.step,
            )
            prompts = trainer.prompts_for(examples)
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
            return rollout_from_outputs(outputs, prompts, trainer.tokenizer, g, trainer.accelerator.device)

        trainer.rollout = rollout
