"""Rollout engines (minirl/rollout/engines.py) and the truncated importance sampling that corrects for them."""

from __future__ import annotations

import pytest
import torch

from minirl.config import ModelConfig
from minirl.grpo import grpo_loss, tis_weights
from minirl.models import lora_config
from minirl.rollout.engines import CopyEngine, ExactEngine, make_engine, resolve_engine
from minirl.rollout.generate import generate
from minirl.testing import make_tiny_model

PROMPTS = ["What is 2+3?", "Hi there"]


def _lora(model):
    from peft import get_peft_model

    return get_peft_model(model, lora_config(ModelConfig(lora=True, lora_r=4, lora_alpha=8)))


def _bump_adapter(peft_model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5, generator=gen)  # B starts at 0: give the adapter an effect


def test_fp32_copy_of_a_lora_policy_is_the_merged_model(tiny_tokenizer):
    policy = _lora(make_tiny_model(len(tiny_tokenizer)))
    _bump_adapter(policy)
    engine = make_engine("fp32", policy)
    assert isinstance(engine, CopyEngine) and not hasattr(engine.copy, "peft_config")
    assert any("lora_A" in n for n, _ in policy.named_parameters())  # the trained model keeps its adapter
    ids = torch.tensor([[5, 6, 7, 8]])
    torch.testing.assert_close(engine.copy(ids).logits, policy(ids).logits, atol=1e-5, rtol=1e-5)
    # after an "optimizer step" on the adapter, sync brings the copy along
    _bump_adapter(policy, seed=1)
    assert not torch.allclose(engine.copy(ids).logits, policy(ids).logits, atol=1e-4)
    engine.sync_weights()
    torch.testing.assert_close(engine.copy(ids).logits, policy(ids).logits, atol=1e-5, rtol=1e-5)


def test_copy_of_a_full_policy_follows_its_weights(tiny_tokenizer):
    policy = make_tiny_model(len(tiny_tokenizer))
    engine = make_engine("bf16", policy)
    assert engine.copy.dtype == torch.bfloat16
    with torch.no_grad():
        next(p for p in policy.parameters() if p.dim() == 2).add_(1.0)
    engine.sync_weights()
    for (name, p), (_, q) in zip(policy.named_parameters(), engine.copy.named_parameters()):
        torch.testing.assert_close(q, p.to(torch.bfloat16), msg=name)


def test_copy_engine_returns_its_own_logprobs_of_the_sampled_tokens(tiny_tokenizer):
    """The sampler's log-probs are those of the distribution it drew from (temperature included)."""
    from minirl.grpo import completion_logprobs

    policy = make_tiny_model(len(tiny_tokenizer))
    engine = make_engine("fp32", policy)
    roll = engine.generate(
        tiny_tokenizer, PROMPTS, num_generations=2, max_new_tokens=6, temperature=0.7,
        stop_strings=(), generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    ids = torch.cat([roll.prompt_ids, roll.completion_ids], dim=1)
    attn = torch.cat([roll.prompt_mask, roll.completion_mask], dim=1)
    ref, _ = completion_logprobs(policy, ids, attn, roll.completion_ids.shape[1], temperature=0.7)
    torch.testing.assert_close(roll.logprobs, ref * roll.completion_mask, atol=1e-4, rtol=1e-4)


def test_exact_engine_gives_no_sampler_logprobs_and_the_loss_is_unchanged(tiny_tokenizer):
    """An identical engine needs no correction: the loss with its weights (exactly 1) equals today's."""
    policy = make_tiny_model(len(tiny_tokenizer))
    roll = ExactEngine(policy).generate(
        tiny_tokenizer,
        PROMPTS,
        num_generations=2,
        max_new_tokens=5,
        generator=torch.Generator().manual_seed(0),
    )
    assert roll.logprobs is None
    logps = torch.randn(4, 5, requires_grad=True)
    mask = torch.ones(4, 5)
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5])
    assert torch.equal(tis_weights(logps.detach(), logps.detach(), 2.0), torch.ones(4, 5))
    plain = grpo_loss(logps, None, None, adv, mask).loss
    same = grpo_loss(logps, None, None, adv, mask, sampling_logps=logps.detach()).loss
    assert torch.equal(plain, same)


def test_a_perturbed_sampler_gets_capped_weights():
    logps = torch.zeros(2, 3, requires_grad=True)
    sampling = torch.tensor(
        [[0.0, -0.1, -5.0], [1.0, 0.0, -0.2]]
    )  # the sampler found some tokens much less likely
    w = tis_weights(logps.detach(), sampling, cap=2.0)
    assert (
        w.max() == 2.0 and w[0, 2] == 2.0 and w[1, 0] == pytest.approx(torch.exp(torch.tensor(-1.0)).item())
    )
    out = grpo_loss(logps, None, None, torch.tensor([1.0, -1.0]), torch.ones(2, 3), sampling_logps=sampling)
    assert out.metrics["tis/capped_frac"] == pytest.approx(1 / 6)
    # the gradient of each token is its weight times the plain one
    out.loss.backward()
    plain = torch.zeros(2, 3, requires_grad=True)
    grpo_loss(plain, None, None, torch.tensor([1.0, -1.0]), torch.ones(2, 3)).loss.backward()
    torch.testing.assert_close(logps.grad, plain.grad * w)


def test_auto_engine_is_never_bf16(monkeypatch):
    """auto: the merged fp32 copy for LoRA on a CPU, else the policy itself; never bf16, AMX or not (module doc)."""
    import minirl.rollout.engines as engines

    for amx in (True, False):
        monkeypatch.setattr(engines, "cpu_has_native_bf16", lambda amx=amx: amx)
        assert (resolve_engine("auto", "cpu"), resolve_engine("auto", "cpu", lora=True)) == ("exact", "fp32")
    assert resolve_engine("auto", "cuda", lora=True) == "exact" and resolve_engine("auto", "cuda") == "exact"
    assert resolve_engine("bf16", "cpu") == "bf16"
    assert resolve_engine("fp32", "cpu") == "fp32" and resolve_engine("exact", "cpu") == "exact"
    with pytest.raises(ValueError, match="rollout.engine must be one of"):
        resolve_engine("sglang", "cpu")


def test_trainer_with_a_copy_engine_trains_and_logs_the_correction(tmp_path, tiny_model_dir):
    """The copy follows the policy after every optimizer step, and the loss reports its correction."""
    import json

    from minirl import config as c
    from minirl.trainer import GRPOTrainer

    cfg = c.TrainConfig(
        model=c.ModelConfig(name=str(tiny_model_dir)),
        rollout=c.RolloutConfig(engine="fp32", max_new_tokens=6, num_generations=4),
        run=c.RunConfig(max_steps=2, output_dir=str(tmp_path / "run"), preflight=False, sample_every=0),
        eval=c.EvalConfig(at_end=False),
        checkpoint=c.CheckpointConfig(save_model=False),
        optim=c.OptimConfig(lr=1e-2),
        data=c.DataConfig(task_args={"max_digits": 1}),
    )
    length_mod_3 = ("length", lambda completions, **kw: [float(len(c) % 3) for c in completions], 1.0)
    trainer = GRPOTrainer(cfg, reward_spec=[length_mod_3])  # rewards that differ within a group
    start = [p.detach().clone() for p in trainer.unwrapped.parameters()]
    trainer.train()
    policy = list(trainer.unwrapped.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(policy, start))  # training moved the policy ...
    for p, q in zip(policy, trainer.engine.copy.parameters()):
        assert torch.equal(p, q)  # ... and the sampler's copy with it
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["type"] == "train"]
    assert train and all(0 < r["tis/mean"] <= cfg.grpo.tis_cap for r in train)


def test_generate_logprobs_are_zero_for_greedy_rows(tiny_tokenizer):
    policy = make_tiny_model(len(tiny_tokenizer))
    roll = generate(policy, tiny_tokenizer, PROMPTS, 3, 4, temperature=[0.0, 1.0, 1.0], stop_strings=(),
                    generator=torch.Generator().manual_seed(0), return_logprobs=True)  # fmt: skip
    assert torch.equal(roll.logprobs[::3], torch.zeros_like(roll.logprobs[::3]))
    assert bool((roll.logprobs[1::3] < 0).all())
