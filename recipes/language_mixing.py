"""Curated vs uncurated cold start: R1-Zero's language mixing, and R1's fixes, measured side by side.

    python recipes/language_mixing.py                                   # embedded SmolLM2-135M, CPU
    python recipes/language_mixing.py --mixing.arms '[uncurated,curated,r1_zero,curation_only,reward_only]'  # the 2x2
    python recipes/language_mixing.py --config recipes/configs/language_mixing_qwen2.5-0.5b.yaml

Arms (same GRPO settings, seed and budget): A ``uncurated`` raw-pool SFT -> GRPO with accuracy + format;
B ``curated`` curated SFT -> GRPO + language-consistency reward; C ``r1_zero`` GRPO from the base model.
Writes ``runs/language_mixing/``: one run directory per arm (metrics, samples, report, ``arm.json``),
``comparison.md``/``comparison.json`` (the table) and ``plots/`` (overlaid curves). ``--help`` lists every field.
"""

from __future__ import annotations

import sys
from pathlib import Path

from minirl.cli import run_main
from minirl.config_parse import parse_args
from minirl.r1.config import LanguageMixingConfig
from minirl.r1.mixing import run_comparison

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "language_mixing_smollm2_cpu.yaml"


def main(argv: list[str] | None = None) -> list[dict]:
    cfg = parse_args(sys.argv[1:] if argv is None else argv, DEFAULT_CONFIG, cls=LanguageMixingConfig)
    return run_comparison(cfg)


if __name__ == "__main__":
    run_main(main)
