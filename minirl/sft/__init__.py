"""Cold-start supervised fine-tuning (R1 stage 1), on TRL's SFTTrainer, and its synthetic data.

``colddata`` makes clean and uncurated pools of traces; ``train`` fine-tunes on them (``run_sft``) and builds
SFT data from a model's own samples (``rejection_sample``, R1 stage 3). ``trl``/``datasets`` load only when
``run_sft`` runs.
"""

from minirl.sft.colddata import (
    CLEAN_ONLY,
    KINDS,
    PoolConfig,
    allocate,
    make_clean,
    make_pool,
    make_record,
    to_sft_records,
)
from minirl.sft.train import rejection_keep, rejection_sample, run_sft, sample_candidates

__all__ = [
    "CLEAN_ONLY",
    "KINDS",
    "PoolConfig",
    "allocate",
    "make_clean",
    "make_pool",
    "make_record",
    "rejection_keep",
    "rejection_sample",
    "run_sft",
    "sample_candidates",
    "to_sft_records",
]
