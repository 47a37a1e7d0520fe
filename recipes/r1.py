"""DeepSeek-R1's pipeline at small scale, in stage order: cold-start data -> curation -> SFT -> GRPO with a language
reward -> rejection sampling: stages 1 to 5 of ``minirl/r1/`` (``s1_pool`` ... ``s5_rejection``), run by the
functions of ``minirl.r1.pipeline`` and ``minirl.r1.s4_grpo``.

    python recipes/r1.py                                            # embedded SmolLM2-135M, CPU
    python recipes/r1.py --rejection.enabled true                   # + the rejection-sampling SFT round
    python recipes/r1.py --config recipes/configs/r1_qwen2.5-0.5b.yaml

Writes ``runs/r1_smollm2_cpu/``: ``cold_start/`` (the SFT model, ``cold_start.json`` with the curation report),
the GRPO run (config.yaml, metrics.jsonl, eval/, model/, report.md) and, when enabled, ``rejection/`` (the
final model and ``rejection.json``). Data is synthetic: see docs/cold_start_data.md. ``--help`` lists every field.
Measured results, time and limits on the 2-core CPU: docs/r1.md. A ``cold_start/`` already in the run directory
is reused instead of trained again.
"""

from __future__ import annotations

import sys
from pathlib import Path

from minirl.cli import run_main
from minirl.config_parse import parse_args
from minirl.r1.config import R1Config
from minirl.r1.pipeline import cold_start_sft, rejection_round
from minirl.r1.s4_grpo import run_grpo
from minirl.r1.s5_rejection import Policy

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "r1_smollm2_cpu.yaml"


def main(argv: list[str] | None = None):
    cfg = parse_args(sys.argv[1:] if argv is None else argv, DEFAULT_CONFIG, cls=R1Config)
    out = Path(cfg.run.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "pipeline.yaml")  # every section; the GRPO run writes its own config.yaml
    train = cfg.train_config()
    # Stages 1-3: cold-start data -> curation -> SFT (minirl.r1.pipeline); the GRPO run starts from the SFT model.
    train.model.name = str(cold_start_sft(cfg.cold_start, train, out / "cold_start", curated=True))
    trainer, _, _ = run_grpo(train)  # stage 4: RL with the language reward (minirl.r1.s4_grpo)
    if cfg.rejection.enabled:  # stage 5: rejection sampling -> curation -> SFT (minirl.r1.pipeline)
        rejection_round(
            cfg.rejection,
            out / "rejection",
            Policy(trainer.unwrapped, trainer.tokenizer, trainer.task, trainer.style),
            max_new_tokens=trainer.cfg.rollout.max_new_tokens,
            language=cfg.data.language,
            seed=cfg.run.seed,
        )
    return trainer


if __name__ == "__main__":
    run_main(main)
