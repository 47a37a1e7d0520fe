"""minirl's benchmarks: one script per benchmark (step, rollout, scaling, sweep, decode), shared helpers in common
(measurements, model, config, output) and workers (the worker-process protocol)."""
