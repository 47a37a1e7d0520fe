"""DeepSeek-R1's multi-stage pipeline at small scale, in stage order: cold-start data -> curation -> SFT -> GRPO
(+ language reward) -> rejection sampling (:mod:`minirl.pipeline.stages`), and the curated-vs-uncurated
language-mixing comparison (:mod:`minirl.pipeline.mixing`). Recipes: ``recipes/r1.py``, ``recipes/language_mixing.py``."""

from minirl.pipeline.config import (
    ColdStartConfig,
    LanguageMixingConfig,
    MixingConfig,
    R1Config,
    RejectionConfig,
)
from minirl.pipeline.mixing import (
    ARMS,
    Arm,
    accuracy_by_mode,
    comparison_table,
    has_code,
    mixing_metrics,
    mode_table,
    run_arm,
    run_comparison,
    run_rows,
)
from minirl.pipeline.stages import (
    ColdStartData,
    RejectionResult,
    cold_start_data,
    cold_start_sft,
    rejection_round,
    run_grpo,
)

__all__ = [
    "ARMS",
    "Arm",
    "ColdStartConfig",
    "ColdStartData",
    "accuracy_by_mode",
    "LanguageMixingConfig",
    "MixingConfig",
    "R1Config",
    "RejectionConfig",
    "RejectionResult",
    "cold_start_data",
    "cold_start_sft",
    "comparison_table",
    "has_code",
    "mixing_metrics",
    "mode_table",
    "rejection_round",
    "run_arm",
    "run_comparison",
    "run_grpo",
    "run_rows",
]
