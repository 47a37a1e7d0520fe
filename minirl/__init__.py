"""minirl: small-scale GRPO reasoning RL (DeepSeek-R1 / R1-Zero) on one GPU or a laptop CPU.

The sub-packages follow the R1 pipeline, in order:

- ``minirl.models``      resolve ``--model`` (local dir, Hub id, embedded alias), device and dtype
- ``minirl.tasks``       prompts, gold answers, worked solutions and default rewards (GSM8K, countdown, arithmetic)
- ``minirl.records``     the typed records the R1 stages pass on (traces, SFT pairs)
- ``minirl.colddata``    synthetic cold-start pools (R1 stage 1 data)
- ``minirl.curation``    filters that turn an uncurated pool into a clean cold-start set
- ``minirl.sft``         supervised fine-tuning: the cold start, and the round after rejection sampling
- ``minirl.rollout``     KV-cached batched sampling of G completions per prompt
- ``minirl.grpo``        group advantages and the clipped GRPO/DAPO/Dr.GRPO loss
- ``minirl.trainer``     the training loop, checkpoints, metrics
- ``minirl.rejection``   rejection sampling from the RL model (R1 stage 3)
- ``minirl.pipeline``    the stages strung together (``recipes/r1.py``) and the language-mixing comparison
- ``minirl.eval``        pass@k, maj@k, format and language-mix rates with intervals
- ``minirl.plot``        curves from ``metrics.jsonl``
- ``minirl.diagnostics`` preflight and live warnings when GRPO cannot learn

Rule-based rewards live in the separate, torch-free package ``rewards``.
"""

__version__ = "0.1.0"
