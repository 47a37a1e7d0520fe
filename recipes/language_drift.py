"""Language drift that arises by itself: a German prompt, GRPO with accuracy-only rewards, and R1's fix.

    python recipes/language_drift.py                         # embedded SmolLM2-135M, CPU: arms Z and ZL
    python recipes/language_drift.py --data.language fr      # another prompt language (zh, fr, es, de)
    python recipes/language_drift.py --run.seed 1 --mixing.arms '[r1_zero]'   # arm Z alone, another seed

After Park et al. (arXiv 2506.05850): the prompt, instruction and worked example are in the target language
(``data.language``); arm Z (``r1_zero``) trains on accuracy + format only, arm ZL (``r1_zero_language``) adds
the language-consistency reward for that language. Both start from the base model with the same seed and
budget; nothing in the policy's path is English or mixed. Writes ``runs/language_drift/``: one run directory per
arm (per-step ``language/target_share``, ``language/english_share``, ``language/mixed_rate``), ``comparison.md``
and ``summary.json`` (one row per arm: held-out target share, mixed rate, English share and accuracy before and
after RL, with 95% intervals). Results: docs/language_mixing.md. Latin-script languages other than English (fr, es,
de) are measured with py3langid: ``pip install -e ".[langid]"`` (the test extra includes it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from minirl.cli import run_main
from minirl.config_parse import parse_args
from minirl.r1.config import LanguageMixingConfig
from minirl.r1.mixing import run_comparison

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "language_drift_smollm2_cpu.yaml"


def main(argv: list[str] | None = None) -> list[dict]:
    cfg = parse_args(sys.argv[1:] if argv is None else argv, DEFAULT_CONFIG, cls=LanguageMixingConfig)
    return run_comparison(cfg)


if __name__ == "__main__":
    run_main(main)
