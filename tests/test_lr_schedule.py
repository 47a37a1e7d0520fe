"""The learning-rate schedule: minirl's trainer and ``--run.backend trl`` give the same LR at every update."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from minirl.config import SCHEDULERS, GRPOConfig, OptimConfig, RunConfig, TrainConfig


def _cfg(scheduler: str, warmup: int, max_steps: int = 10, num_iterations: int = 1):
    return TrainConfig(
        optim=OptimConfig(scheduler=scheduler, warmup_steps=warmup, lr=1e-3),
        run=RunConfig(max_steps=max_steps),
        grpo=GRPOConfig(num_iterations=num_iterations),
    )


def _lrs(optimizer, scheduler, n: int) -> list[float]:
    """The LR each of ``n`` updates uses (read before the update, as the trainer logs it), then stepped."""
    out = []
    for _ in range(n):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def minirl_lrs(cfg) -> list[float]:
    from minirl.trainer.setup import make_optimizer

    model = torch.nn.Linear(2, 2)
    optimizer, scheduler = make_optimizer(model, cfg)
    updates = cfg.run.max_steps * cfg.grpo.num_iterations * cfg.grpo.num_minibatches
    return _lrs(optimizer, scheduler, updates)


def trl_lrs(cfg) -> list[float]:
    """The LRs TRL's trainer would use for the mapped config: ``GRPOConfig`` and ``Trainer.create_scheduler``."""
    from transformers import Trainer
    from trl import GRPOConfig

    from minirl.backends.trl_backend import trl_config_kwargs

    args = GRPOConfig(**trl_config_kwargs(cfg, "cpu"))
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
    fake = SimpleNamespace(args=args, lr_scheduler=None, optimizer=optimizer)
    scheduler = Trainer.create_scheduler(fake, num_training_steps=args.max_steps, optimizer=optimizer)
    return _lrs(optimizer, scheduler, args.max_steps)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("warmup", [0, 3])
def test_minirl_and_trl_use_the_same_lr_at_every_update(scheduler, warmup):
    cfg = _cfg(scheduler, warmup)
    ours, theirs = minirl_lrs(cfg), trl_lrs(cfg)
    assert len(ours) == len(theirs) == 10
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)


def test_num_iterations_counts_updates_in_both_backends():
    """mu = 2: each rollout step is two updates in minirl; TRL's max_steps counts updates, so the schedules (and the
    number of rollouts: TRL generates once every mu updates) agree only if the mapping says so."""
    cfg = _cfg("linear", 2, max_steps=4, num_iterations=2)
    ours, theirs = minirl_lrs(cfg), trl_lrs(cfg)
    assert len(ours) == len(theirs) == 8
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)


def test_constant_with_warmup_warms_up_then_stays():
    """A user who sets a warmup gets one, also under ``constant`` (TRL's plain ``constant`` would ignore it)."""
    lrs = minirl_lrs(_cfg("constant", 4))
    assert lrs[0] < lrs[1] < lrs[2] < lrs[3] < lrs[4] == pytest.approx(1e-3)
    assert lrs[4:] == pytest.approx([1e-3] * 6)
    assert minirl_lrs(_cfg("constant", 0)) == pytest.approx([1e-3] * 10)


@pytest.mark.parametrize("warmup", [0, 3])
def test_decaying_schedules_end_near_zero_and_peak_after_warmup(warmup):
    for name in ("linear", "cosine"):
        lrs = minirl_lrs(_cfg(name, warmup))
        assert max(lrs) == pytest.approx(1e-3) and lrs.index(max(lrs)) == warmup
        assert lrs[-1] < 0.2e-3 and all(a >= b for a, b in zip(lrs[warmup:], lrs[warmup + 1 :]))
