"""Test-only script: one GRPO step on the tiny model with fixed rollouts, per case, weights saved as safetensors.

Run with plain ``python`` (one process, P prompts per step) or under ``accelerate launch`` with W processes (P / W
each): the prompt schedule gives rank r of W the same prompts as the single process, and the
rollout is replaced by fixed completions per prompt (built from the question), so both runs see identical data and
only the loss normaliser and the gradient averaging can make them differ (tests/test_ddp.py compares them).

The optimizer is SGD (lr 1, no clipping) instead of AdamW: Adam's first step is ``lr * sign(g)``, which would hide a
loss scaled by a wrong constant; with SGD the weights move by the gradient itself.

    python tests/ddp_step.py --out DIR grpo:group:0:1:2 dapo:group:0:2:2
    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_step.py --out DIR ...

(torchrun, not ``accelerate launch --cpu``: the latter starts a single process unless an MPI hostfile is given; the
trainer's ``Accelerator(cpu=True)`` turns torchrun's environment into a 2-process gloo group.)

A case is ``loss_type:scale_rewards:dynamic_sampling(0/1):micro_batch_size(0 = whole):P``; with dynamic sampling the first prompt of
the schedule gets completions of equal reward (a zero-variance group, dropped).
"""

from __future__ import annotations

import argparse
import json
import os
import zlib
from pathlib import Path

import torch
from safetensors.torch import save_file

from minirl.cli import run_main
from minirl.config import (
    CheckpointConfig,
    DataConfig,
    EvalConfig,
    GRPOConfig,
    OptimConfig,
    RolloutConfig,
    RunConfig,
    TrainConfig,
)
from minirl.rollout.generate import Rollout
from minirl.testing import make_tiny_model, make_tiny_tokenizer
from minirl.trainer import GRPOTrainer
from minirl.trainer import loop as trainer_loop
from minirl.trainer.data import PromptSchedule

G = 4


def sgd(model, cfg):
    """SGD at lr 1 and a constant schedule: the weights move by exactly the (averaged) gradient."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1.0)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda u: 1.0)


def length_reward(completions, **kwargs):
    """Reward 0, 1 or 2 by completion length mod 3: different lengths, different rewards."""
    return [float(len(c) % 3) for c in completions]


def fixed_rollout(trainer, zero_variance_question: str | None):
    """``trainer.rollout`` replaced: G completions per prompt, a pure function of the question."""
    tok = trainer.tokenizer

    def rollout(examples, num_generations=None, temperature=None, max_new_tokens=None) -> Rollout:
        prompts = trainer.prompts_for(examples)
        prompt_rows, comp_rows = [], []
        for ex, prompt in zip(examples, prompts):
            h = zlib.crc32(ex.question.encode())
            for k in range(G):
                n = (
                    6 if ex.question == zero_variance_question else 2 + (h >> (3 * k)) % 11
                )  # 2..12 characters
                text = "".join(chr(ord("a") + (h + k * 7 + i) % 26) for i in range(n))
                prompt_rows.append(tok(prompt, add_special_tokens=False).input_ids)
                comp_rows.append(tok(text, add_special_tokens=False).input_ids + [tok.eos_token_id])
        p_len, c_len = max(map(len, prompt_rows)), max(map(len, comp_rows))
        pad = tok.pad_token_id
        return Rollout(
            prompt_ids=torch.tensor([[pad] * (p_len - len(r)) + r for r in prompt_rows]),  # [N, P]
            prompt_mask=torch.tensor([[0] * (p_len - len(r)) + [1] * len(r) for r in prompt_rows]),  # [N, P]
            completion_ids=torch.tensor([r + [pad] * (c_len - len(r)) for r in comp_rows]),  # [N, C]
            completion_mask=torch.tensor(
                [[1] * len(r) + [0] * (c_len - len(r)) for r in comp_rows]
            ),  # [N, C]
            truncated=torch.zeros(len(comp_rows), dtype=torch.bool),
            texts=tok.batch_decode(comp_rows, skip_special_tokens=True),
            num_generations=G,
            prompts=prompts,
        )

    return rollout


def run_case(case: str, out: Path, tok) -> None:
    loss_type, scale, dynamic, micro, prompts = case.split(":")
    prompts = int(prompts)
    world = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun; the Accelerator is made by the trainer
    if prompts % world:
        raise SystemExit(f"{case}: {prompts} prompts do not split over {world} processes")
    cfg = TrainConfig(
        run=RunConfig(output_dir=str(out / case.replace(":", "_")), max_steps=1, seed=0, preflight=False),
        checkpoint=CheckpointConfig(save_model=False),
        eval=EvalConfig(at_end=False),
        data=DataConfig(task="arithmetic", train_size=64, eval_size=0, one_shot=False),
        rollout=RolloutConfig(num_generations=G, prompts_per_step=prompts // world, max_new_tokens=16),
        optim=OptimConfig(max_grad_norm=0.0, micro_batch_size=None if micro == "0" else int(micro)),
        grpo=GRPOConfig(loss_type=loss_type, scale_rewards=scale, dynamic_sampling=dynamic == "1"),
    )
    trainer = GRPOTrainer(
        cfg, model=make_tiny_model(len(tok), seed=0), tokenizer=tok, reward_spec=[("len", length_reward, 1.0)]
    )
    first = PromptSchedule(trainer.train_examples, 1, cfg.run.seed).batch(0)[0].question
    trainer.rollout = fixed_rollout(trainer, first if dynamic == "1" else None)
    metrics = trainer.train_step()
    if trainer.accelerator.is_main_process:
        weights = {k: v.detach().cpu().clone() for k, v in trainer.unwrapped.named_parameters()}  # tied: once
        save_file(weights, str(out / f"{case.replace(':', '_')}.safetensors"))
        keys = ("loss", "kept_frac", "reward")
        record = {k: metrics[k] for k in keys} | {"num_processes": trainer.accelerator.num_processes}
        (out / f"{case.replace(':', '_')}.json").write_text(json.dumps(record))
    trainer.accelerator.wait_for_everyone()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("cases", nargs="+")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    trainer_loop.make_optimizer = sgd
    tok = make_tiny_tokenizer()
    for case in args.cases:
        run_case(case, args.out, tok)


if __name__ == "__main__":
    run_main(main)  # as the recipes end: the process group torn down before the interpreter's exit
