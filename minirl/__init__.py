"""minirl: small-scale GRPO reasoning RL (DeepSeek-R1 / R1-Zero) on one GPU or a laptop CPU.

The sub-packages:

- ``minirl.models``      resolve ``--model`` (local dir, Hub id, embedded alias), device and dtype
- ``minirl.tasks``       prompts, gold answers, worked solutions and default rewards (GSM8K, countdown, arithmetic)
- ``minirl.rollout``     KV-cached batched sampling of G completions per prompt
- ``minirl.grpo``        group advantages and the clipped GRPO/DAPO/Dr.GRPO loss
- ``minirl.trainer``     the training loop, checkpoints, metrics (R1-Zero's RL, and stage 4 of R1's pipeline)
- ``minirl.r1``          DeepSeek-R1's pipeline, one module per stage in order: ``s1_pool`` (synthetic cold-start
  data), ``s2_curate`` (curation filters), ``s3_sft`` (SFT), ``s4_grpo`` (RL), ``s5_rejection`` (rejection
  sampling); ``records`` (the typed records between stages), ``config``, ``pipeline`` (the stages strung together
  for ``recipes/r1.py``) and ``mixing`` (the language-mixing comparison)
- ``minirl.eval``        pass@k, maj@k, format and language-mix rates with intervals
- ``minirl.plot``        curves from ``metrics.jsonl``
- ``minirl.diagnostics`` preflight and live warnings when GRPO cannot learn

Rule-based rewards live in the separate, torch-free package ``rewards``.
"""

__version__ = "0.1.0"
