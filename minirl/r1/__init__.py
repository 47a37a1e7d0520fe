"""DeepSeek-R1's multi-stage pipeline at small scale (R1 paper, sec. 2.3), one module per stage, named in stage order.

=====================  =========================================================================================
module                 stage, and what it passes on
=====================  =========================================================================================
``s1_pool``            1. cold-start data: a synthetic pool of :class:`~minirl.r1.records.Trace` records
``s2_curate``          2. curation: the filters that keep the clean traces, and a ``CurationReport``
``s3_sft``             3. SFT on the kept traces (:class:`~minirl.r1.records.SFTRecord` pairs): the cold-start model
``s4_grpo``            4. RL (GRPO, with the language reward) from the SFT model: the trained policy
``s5_rejection``       5. rejection sampling from the policy, then curation (2) and SFT (3) again
=====================  =========================================================================================

Beside them: ``records`` (the typed records the stages pass on, and the functions that make them), ``config`` (the
pipeline's config sections on top of :class:`~minirl.config.TrainConfig`), ``pipeline`` (the stages strung
together for ``recipes/r1.py``: ``cold_start_data``, ``cold_start_sft``, ``rejection_round``) and ``mixing`` (the
curated-vs-uncurated language-mixing comparison of ``recipes/language_mixing.py``). The numbering is this
pipeline's; the paper's sections are cited as "sec. 2.3.x".

This ``__init__`` imports nothing, so that importing one stage loads only that stage and what it imports (a stage
imports only the stages before it: ``tests/test_imports.py``). Import from the modules:
``from minirl.r1.pipeline import cold_start_sft``.
"""
