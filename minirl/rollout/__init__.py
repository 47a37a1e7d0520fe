"""Rollout: sample G completions per prompt with a KV cache."""
