"""The trainer and the rollout engines on each device: the CPU always, CUDA where there is one (the ``gpu`` mark).

``benchmarks/gpu_check.py`` runs the CUDA cases first on a GPU machine; on the CPU they are skipped and the CPU
cases check the same assertions in CI.
"""

from __future__ import annotations

import math

import pytest
import torch

from minirl.config import (
    CheckpointConfig,
    DataConfig,
    EvalConfig,
    ModelConfig,
    OptimConfig,
    RolloutConfig,
    RunConfig,
    TrainConfig,
)
from minirl.grpo import completion_logprobs
from minirl.rollout.engines import make_engine
from minirl.trainer import GRPOTrainer

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]
PROMPTS = ["What is 2+3?", "Hi there"]


def length_mod_3(completions, **kwargs):
    """Rewards that differ within a group, so every step has a gradient."""
    return [float(len(c) % 3) for c in completions]


@pytest.mark.parametrize("device", DEVICES)
def test_training_steps_on_the_device(tmp_path, tiny_model_dir, device):
    """Two GRPO steps: the policy lives on the device, the loss is finite, the weights move, and the step's
    peak memory is logged."""
    cfg = TrainConfig(
        model=ModelConfig(name=str(tiny_model_dir), device=device),
        rollout=RolloutConfig(max_new_tokens=6, num_generations=4),
        run=RunConfig(max_steps=2, output_dir=str(tmp_path), preflight=False, sample_every=0),
        eval=EvalConfig(at_end=False),
        checkpoint=CheckpointConfig(save_model=False),
        optim=OptimConfig(lr=1e-2),
        data=DataConfig(task_args={"max_digits": 1}),
    )
    trainer = GRPOTrainer(cfg, reward_spec=[("length", length_mod_3, 1.0)])
    params = list(trainer.unwrapped.parameters())
    assert {p.device.type for p in params} == {device}
    assert {p.dtype for p in params} == {torch.float32}  # fp32 master weights (bf16 autocast on a GPU)
    start = [p.detach().clone() for p in params]
    steps = [trainer.train_step() for _ in range(2)]
    for m in steps:
        assert math.isfinite(m["loss"]) and math.isfinite(m["grad_norm"]) and m["tokens/generated"] > 0
        assert m["memory/peak_gib"] > 0  # resident memory on the CPU, allocated memory on CUDA
        if device == "cuda":
            assert m["memory/peak_gib"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(params, start))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("engine", ["exact", "bf16"])
def test_rollout_engines_on_the_device(tiny_model, tiny_tokenizer, device, engine):
    """Each engine samples on the device; a copy engine's own log-probs are near the policy's (bf16) or equal."""
    policy = tiny_model.to(device)
    eng = make_engine(engine, policy, device)
    gen = torch.Generator(device=device).manual_seed(0)
    roll = eng.generate(
        tiny_tokenizer, PROMPTS, num_generations=3, max_new_tokens=6, temperature=0.7,
        stop_strings=(), generator=gen,
    )  # fmt: skip
    assert roll.completion_ids.device.type == device
    assert roll.completion_ids.shape[0] == len(PROMPTS) * 3 and int(roll.lengths.min()) >= 1
    if engine == "exact":
        assert roll.logprobs is None  # the policy itself sampled: nothing to correct
        return
    ids = torch.cat([roll.prompt_ids, roll.completion_ids], dim=1)  # [N, P + C]
    attn = torch.cat([roll.prompt_mask, roll.completion_mask], dim=1)  # [N, P + C]
    with torch.no_grad():
        ref, _ = completion_logprobs(
            policy, ids, attn, roll.completion_ids.shape[1], temperature=0.7
        )  # [N, C]
    diff = ((ref - roll.logprobs) * roll.completion_mask).abs()  # [N, C]
    assert float(diff.max()) < 0.1  # bf16 weights: close, not equal
