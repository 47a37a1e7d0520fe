"""R1-Zero: GRPO straight from a pretrained model, with the paper's template and rule rewards only.

    accelerate launch recipes/r1_zero.py                                   # embedded SmolLM2-135M, CPU or GPU
    accelerate launch recipes/r1_zero.py --config recipes/configs/r1_zero_qwen2.5-0.5b_lora.yaml
    accelerate launch recipes/r1_zero.py --run.max_steps 10 --rollout.max_new_tokens 96   # any field overrides
    accelerate launch recipes/r1_zero.py --run.backend trl        # the same recipe through TRL's GRPOTrainer
    accelerate launch recipes/r1_zero.py --rollout.engine vllm    # sample with vLLM (GPU, pip install vllm)

Writes ``runs/<name>/``: config.yaml, metrics.jsonl, samples.jsonl, eval/, model/, report.md and curves.
``--help`` lists every field.
"""

from __future__ import annotations

import sys
from pathlib import Path

from minirl.backends.trl_backend import train_with_trl
from minirl.backends.vllm_rollout import VLLMRollout, require_vllm
from minirl.cli import run_main
from minirl.config_parse import parse_args
from minirl.models import resolve_model
from minirl.trainer import GRPOTrainer

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "r1_zero_smollm2_cpu.yaml"


def main(argv: list[str] | None = None):
    cfg = parse_args(sys.argv[1:] if argv is None else argv, default_config=DEFAULT_CONFIG)
    if cfg.run.backend == "trl":
        return train_with_trl(cfg)
    if cfg.rollout.engine == "vllm":  # fail before the model loads when vLLM is missing
        require_vllm()
    trainer = GRPOTrainer(cfg)
    if cfg.rollout.engine == "vllm":
        VLLMRollout(resolve_model(cfg.model.name)).attach(trainer)
    trainer.train()
    trainer.write_report()
    return trainer


if __name__ == "__main__":
    run_main(main)
