"""Supervised fine-tuning on TRL's SFTTrainer: the cold start before RL and the round after rejection sampling.

``records`` turns traces (:class:`minirl.records.Trace`, from :mod:`minirl.colddata` or :mod:`minirl.rejection`)
into prompt/completion SFT records with the exact RL prompt; ``train`` fine-tunes on them (``run_sft``).
``trl``/``datasets`` load only when ``run_sft`` runs.
"""

from minirl.sft.records import to_sft_records
from minirl.sft.train import run_sft

__all__ = ["run_sft", "to_sft_records"]
