"""minirl's benchmarks: one script per benchmark (step, rollout, scaling, sweep, decode), shared helpers in common."""
