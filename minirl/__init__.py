"""minirl: small-scale GRPO reasoning RL (DeepSeek-R1 / R1-Zero) on one GPU or a laptop CPU.

The sub-packages follow the R1 pipeline, in order:

- ``minirl.models``      resolve ``--model`` (local dir, Hub id, embedded alias), device and dtype
- ``minirl.tasks``       prompts, gold answers and default rewards (GSM8K, countdown, arithmetic)
- ``minirl.sft``         cold-start supervised fine-tuning (R1 stage 1)
- ``minirl.curation``    filters that turn an uncurated pool into a clean cold-start set
- ``minirl.rollout``     KV-cached batched sampling of G completions per prompt
- ``minirl.grpo``        group advantages and the clipped GRPO/DAPO/Dr.GRPO loss
- ``minirl.trainer``     the training loop, checkpoints, metrics
- ``minirl.eval``        pass@k, maj@k, format and language-mix rates with intervals
- ``minirl.plot``        curves from ``metrics.jsonl``
- ``minirl.diagnostics`` preflight and live warnings when GRPO cannot learn

Rule-based rewards live in the separate, torch-free package ``rewards``.
"""

__version__ = "0.1.0"
