"""minirl's GRPO loss equals TRL's: same loss and same gradient on every parameter of the tiny model.

One batch (2 prompts x G=4, left-padded prompts, right-padded completions, one truncated completion), off-policy
``old_logps`` so that both clip bounds are active (``epsilon_high != epsilon_low``), a reference model perturbed from
the policy, and a sampling temperature != 1. TRL side: ``GRPOTrainer.compute_loss`` on an ``inputs`` dict shaped like
the output of ``_generate_and_score_completions``.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("trl")

from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from minirl.grpo import LossParams, completion_logprobs, compute_advantages, grpo_loss, loss_denominator  # noqa: E402

G = 4
C = 8  # completion width = max_completion_length
TEMPERATURE = 0.7
EPS_LOW, EPS_HIGH = 0.2, 0.28
PROMPTS = ["2+3=", "What is 10*7?"]
COMPLETIONS = ["5", "five", "5.0", "4", "70", "seventy!", "7", "700"]  # "seventy!" fills C: truncated, no eos
REWARDS = [1.0, 0.5, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]


def _batch(tok) -> dict[str, torch.Tensor]:
    prompts = tok(PROMPTS, padding=True, padding_side="left", return_tensors="pt")
    prompt_ids = prompts.input_ids.repeat_interleave(G, dim=0)  # [B*G, P]
    prompt_mask = prompts.attention_mask.repeat_interleave(G, dim=0)  # [B*G, P]
    completion_ids = torch.full((len(COMPLETIONS), C), tok.pad_token_id)  # [B*G, C]
    completion_mask = torch.zeros(len(COMPLETIONS), C, dtype=torch.long)  # [B*G, C]
    for i, text in enumerate(COMPLETIONS):
        ids = (tok(text, add_special_tokens=False).input_ids + [tok.eos_token_id])[:C]
        completion_ids[i, : len(ids)] = torch.tensor(ids)
        completion_mask[i, : len(ids)] = 1
    assert (
        prompt_mask.min() == 0 and completion_mask.min() == 0 and completion_mask[5].all()
    )  # padding both sides
    return {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
    }


def _trainer(model, tok, tmp_path, **kwargs) -> GRPOTrainer:
    cfg = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2 * G,
        num_generations=G,
        max_completion_length=C,
        bf16=False,
        use_cpu=True,
        report_to=[],
        temperature=TEMPERATURE,
        epsilon=EPS_LOW,
        epsilon_high=EPS_HIGH,
        **kwargs,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
        args=cfg,
        train_dataset=Dataset.from_dict({"prompt": ["a"] * (2 * G)}),
        processing_class=tok,
    )
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's training loop, which we do not run
    return trainer


@torch.no_grad()
def _frozen_logps(model, ids, attn, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    logps, _ = completion_logprobs(model, ids, attn, C, temperature=TEMPERATURE)  # [N, C]
    gen = torch.Generator().manual_seed(seed)
    return logps + noise * torch.randn(logps.shape, generator=gen)  # [N, C]


@torch.no_grad()
def _perturbed(model_dir, scale: float = 0.05):
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    gen = torch.Generator().manual_seed(1)
    for p in model.parameters():
        p.add_(scale * torch.randn(p.shape, generator=gen))
    return model


def test_completion_logprobs_match_trl(tiny_model_dir, tiny_tokenizer, tmp_path):
    ours = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    theirs = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trainer = _trainer(theirs, tiny_tokenizer, tmp_path)
    b = _batch(tiny_tokenizer)
    ids = torch.cat([b["prompt_ids"], b["completion_ids"]], dim=1)  # [N, P+C]
    attn = torch.cat([b["prompt_mask"], b["completion_mask"]], dim=1)  # [N, P+C]
    with torch.no_grad():
        logps, ent = completion_logprobs(ours, ids, attn, C, temperature=TEMPERATURE, compute_entropy=True)
        ref_logps, ref_ent, _ = trainer._get_per_token_logps_and_entropies(
            theirs, ids, attn, C, compute_entropy=True
        )
    torch.testing.assert_close(logps, ref_logps, atol=1e-5, rtol=0)
    torch.testing.assert_close(ent, ref_ent, atol=1e-5, rtol=0)
    assert (logps[b["completion_mask"] == 1] < 0).all()  # real scores, not the zero fill


CASES = [
    # (loss_type, beta, use_bias_correction_kl, delta)
    *[(lt, 0.0, False, None) for lt in ("grpo", "dr_grpo", "dapo")],
    *[(lt, 0.04, False, None) for lt in ("grpo", "dr_grpo", "dapo")],
    *[(lt, 0.04, True, None) for lt in ("grpo", "dr_grpo", "dapo")],  # TRL 1.16's default KL
    ("dapo", 0.0, False, 1.5),
]


@pytest.mark.parametrize(("loss_type", "beta", "bias_kl", "delta"), CASES)
def test_loss_and_gradients_match_trl(
    tiny_model_dir, tiny_tokenizer, tmp_path, loss_type, beta, bias_kl, delta
):
    ours = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    theirs = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trainer = _trainer(
        theirs,
        tiny_tokenizer,
        tmp_path,
        beta=beta,
        loss_type=loss_type,
        delta=delta,
        use_bias_correction_kl=bias_kl,
    )
    b = _batch(tiny_tokenizer)
    ids = torch.cat([b["prompt_ids"], b["completion_ids"]], dim=1)  # [N, P+C]
    attn = torch.cat([b["prompt_mask"], b["completion_mask"]], dim=1)  # [N, P+C]
    old = _frozen_logps(ours, ids, attn, noise=0.4)  # [N, C] off-policy: ratios spread around 1
    ref = _frozen_logps(_perturbed(tiny_model_dir), ids, attn) if beta else None  # [N, C]
    advantages = compute_advantages(torch.tensor(REWARDS), G)  # [N]
    num_items = 2 * int(b["completion_mask"].sum())  # as if this were half of an accumulated batch

    # minirl
    ours.train()
    logps, _ = completion_logprobs(ours, ids, attn, C, temperature=TEMPERATURE)
    normalizer = None  # grpo: N, this call's own, as TRL
    if loss_type == "dapo":
        normalizer = num_items  # TRL's num_items_in_batch
    elif loss_type == "dr_grpo":
        normalizer = loss_denominator("dr_grpo", b["completion_mask"], C)  # N * max_completion_length
    params = LossParams(
        loss_type=loss_type,
        epsilon_low=EPS_LOW,
        epsilon_high=EPS_HIGH,
        beta=beta,
        delta=delta,
        use_bias_correction_kl=bias_kl,
    )
    out = grpo_loss(logps, old, ref, advantages, b["completion_mask"], params, normalizer=normalizer)
    out.loss.backward()

    # TRL
    theirs.train()
    inputs = {
        **b,
        "advantages": advantages,
        "old_per_token_logps": old,
        "num_items_in_batch": torch.tensor(num_items),
    }
    if ref is not None:
        inputs["ref_per_token_logps"] = ref
    trl_loss = trainer.compute_loss(theirs, inputs)
    trl_loss.backward()

    torch.testing.assert_close(out.loss, trl_loss, atol=1e-5, rtol=0)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
        torch.testing.assert_close(
            p.grad, theirs_params[name].grad, atol=1e-5, rtol=0, msg=lambda m, n=name: f"{n}: {m}"
        )

    # The clip is active on both sides, and our metrics are TRL's.
    logged = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    assert out.metrics["clip_ratio/low_mean"] > 0 and out.metrics["clip_ratio/high_mean"] > 0
    for key in ("clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"):
        assert out.metrics[key] == pytest.approx(logged[key], abs=1e-6), key
    if beta:
        assert out.metrics["kl"] == pytest.approx(logged["kl"], abs=1e-6)
