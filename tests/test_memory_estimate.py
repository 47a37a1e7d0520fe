"""minirl.memory.estimate_memory: which phase holds what, and the advice when a run does not fit."""

from __future__ import annotations

from minirl.config import EvalConfig, TrainConfig
from minirl.memory import ModelShape, estimate_memory
from minirl.testing import changed

SMOLLM2 = ModelShape(
    params=135_000_000, trainable=135_000_000, bytes_per_param=4, layers=30, hidden=576, intermediate=1536,
    kv_width=192, vocab=49152,
)  # fmt: skip


def test_start_and_end_evaluations_run_without_the_optimizer_state():
    """The start evaluation comes before the first update allocates AdamW's moments, the end one after the run frees
    them; an evaluation every few steps holds them."""
    cfg = TrainConfig(eval=EvalConfig(at_start=True, at_end=True, every=0))
    est = estimate_memory(SMOLLM2, cfg, prompt_tokens=150)
    optimizer = est.static["optimizer"]
    assert optimizer == 2 * 4 * SMOLLM2.trainable
    held = sum(est.static.values())
    assert est.phase_bytes("evaluation") == held - optimizer + est.phases["evaluation"]
    assert est.phase_bytes("forward_backward") == held + est.phases["forward_backward"]
    assert est.peak == max(est.phase_bytes(p) for p in est.phases)
    assert "evaluation +" in est.table() and "(without optimizer)" in est.table()

    every = estimate_memory(SMOLLM2, changed(cfg, eval={"every": 4}), prompt_tokens=150)
    assert every.phase_bytes("evaluation") == held + every.phases["evaluation"]
    assert "(without optimizer)" not in every.table()


def test_evaluation_advice_counts_the_memory_the_optimizer_leaves():
    """An evaluation batch that fits once the optimizer state is gone gets no advice to shrink it."""
    cfg = TrainConfig(eval=EvalConfig(batch_size=128))
    est = estimate_memory(SMOLLM2, cfg, prompt_tokens=150)
    between = est.phase_bytes("evaluation") + est.static["optimizer"] // 2  # fits without the optimizer only
    tight = estimate_memory(SMOLLM2, cfg, prompt_tokens=150, available=between)
    assert not any("--eval.batch_size" in a for a in tight.advice)
    held, adds, optimizer = sum(est.static.values()), est.phases["evaluation"], est.static["optimizer"]
    # some memory must lie between the static part and the evaluation's peak for the advice to show
    assert adds > optimizer
    short = estimate_memory(SMOLLM2, cfg, prompt_tokens=150, available=held + (adds - optimizer) // 2)
    assert any("--eval.batch_size" in a for a in short.advice), short.advice
