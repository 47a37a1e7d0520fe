"""Other engines behind the same config: TRL's GRPOTrainer (``run.backend: trl``) and vLLM rollouts
(``rollout.engine: vllm``).

Nothing here is imported by the default training path: each backend imports its engine (``trl``, ``datasets``,
``vllm``) inside its functions, so minirl runs where those packages are not installed (tests/test_imports.py).
"""
