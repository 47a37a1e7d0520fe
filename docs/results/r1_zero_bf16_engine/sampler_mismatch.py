"""The bf16 sampler copy against the policy it copies, on R1-Zero default prompts (docs/benchmarks.md, "The bf16 copy
on the R1-Zero default"). A one-off measurement, kept as the record of its numbers:

    python docs/results/r1_zero_bf16_engine/sampler_mismatch.py base            # the base model (step 0)
    python docs/results/r1_zero_bf16_engine/sampler_mismatch.py RUN_DIR/model   # a policy trained by the recipe

64 training prompts x 8 completions (the recipe's T = 0.5, at most 40 tokens) are sampled once by the policy itself
(``exact``) and once by its bf16 copy; every sampled token is scored by the fp32 policy and by the base model (the
KL reference). Prints per engine the mean and max k3 KL per token, the tokens the policy gives log-prob < -5 and
< -8, and for the copy the mean and max |policy log-prob - copy log-prob|. For a trained policy it first prints the
fraction of weight-matrix entries whose bf16 value did not change in training.
"""

import glob
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from safetensors.torch import load_file  # noqa: E402

from minirl.config_parse import parse_args  # noqa: E402
from minirl.grpo.logprobs import completion_logprobs  # noqa: E402
from minirl.grpo.loss import k3_kl  # noqa: E402
from minirl.rollout.engines import CopyEngine, ExactEngine  # noqa: E402
from minirl.trainer import GRPOTrainer  # noqa: E402


def load_trained(trainer, model_dir: str) -> dict:
    """Load ``model_dir``'s weights into the trainer's policy; how many bf16 weight values training changed."""
    base = {k: v.detach().clone() for k, v in trainer.unwrapped.state_dict().items()}
    state = {}
    for f in glob.glob(f"{model_dir}/*.safetensors"):
        state.update(load_file(f))
    trainer.unwrapped.load_state_dict(state, strict=False)  # lm_head is tied to the embeddings
    same = total = 0
    for name, w in trainer.unwrapped.state_dict().items():
        if w.dim() == 2:
            same += int((w.bfloat16() == base[name].bfloat16()).sum())
            total += w.numel()
    return {"matrix_entries": total, "bf16_value_unchanged_frac": same / total}


def main(model_dir: str) -> None:
    """Sample with both engines and print the statistics of the module docstring."""
    config = ROOT / "recipes" / "configs" / "r1_zero_smollm2_cpu.yaml"
    overrides = ["--run.output_dir", "/tmp/sampler_mismatch_run", "--run.preflight", "false"]
    trainer = GRPOTrainer(parse_args([*overrides, "--eval.at_start", "false"], default_config=config))
    if model_dir != "base":
        print(json.dumps(load_trained(trainer, model_dir)))
    policy, ref, temp = trainer.unwrapped, trainer.ref_model, trainer.cfg.rollout.temperature
    engines = {"exact": ExactEngine(policy), "bf16": CopyEngine(policy, torch.bfloat16)}
    examples = trainer.task.examples("train", n=64, seed=7)
    stats = {name: {"tokens": 0, "k3": [], "below_-5": 0, "below_-8": 0, "diff": []} for name in engines}
    for i in range(0, 64, 8):
        for name, engine in engines.items():
            trainer.engine, trainer.generator = engine, torch.Generator().manual_seed(i)
            roll = trainer.rollout(examples[i : i + 8])
            ids = torch.cat([roll.prompt_ids, roll.completion_ids], 1)  # [N, P+C]
            mask = torch.cat([roll.prompt_mask, roll.completion_mask], 1)  # [N, P+C]
            width = roll.completion_ids.shape[1]
            with torch.no_grad():
                logps, _ = completion_logprobs(policy, ids, mask, width, temp)  # [N, C]
                ref_logps, _ = completion_logprobs(ref, ids, mask, width, temp)  # [N, C]
            real = roll.completion_mask.bool()  # [N, C]
            s = stats[name]
            s["tokens"] += int(real.sum())
            s["k3"] += k3_kl(logps, ref_logps)[real].tolist()
            s["below_-5"] += int((logps[real] < -5).sum())
            s["below_-8"] += int((logps[real] < -8).sum())
            if roll.logprobs is not None:
                s["diff"] += (logps - roll.logprobs.float())[real].abs().tolist()
    for name, s in stats.items():
        row = {"tokens": s["tokens"], "k3_mean": sum(s["k3"]) / len(s["k3"]), "k3_max": max(s["k3"])}
        row |= {"policy_logp_below_-5": s["below_-5"], "below_-8": s["below_-8"]}
        if s["diff"]:
            row |= {
                "abs_logp_diff_mean": sum(s["diff"]) / len(s["diff"]),
                "abs_logp_diff_max": max(s["diff"]),
            }
        print(name, json.dumps(row))


if __name__ == "__main__":
    main(sys.argv[1])
