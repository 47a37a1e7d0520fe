"""Curves from one or several runs' ``metrics.jsonl``: ``python -m minirl.plot RUN_DIR ...`` or :func:`plot_runs`."""

from minirl.plot.curves import ema, load_run, plot_runs, read_metrics

__all__ = ["ema", "load_run", "plot_runs", "read_metrics"]
