"""The policy update of one GRPO step: DeepSeekMath (arXiv:2402.03300) Algorithm 1, lines 9-11.

For ``num_iterations`` passes (mu) over the rollout batch and ``num_minibatches`` minibatches per pass: token log-probs
of the completions under the policy (``minirl.grpo.grouped_completion_logprobs``), the clipped GRPO loss with the k3
KL to the reference (``minirl.grpo.grpo_loss``), backward in micro-batches of ``optim.micro_batch_size`` completions,
gradient clipping and one
AdamW step. Old-policy log-probs are computed only when the data is reused (mu > 1 or several minibatches), reference
log-probs only when beta > 0. How the loss is normalised is ``minirl.grpo.normalize``'s business: this file passes
the minibatch's ``minibatch_normalizer`` and never looks at ``loss_type``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import torch

from minirl.grpo import (
    LossParams,
    SharedPrompts,
    grouped_completion_logprobs,
    grpo_loss,
    minibatch_normalizer,
)
from minirl.memory import PeakMemory
from minirl.trainer.batch import PolicyBatch


class TrainingDivergedError(RuntimeError):
    """The loss became NaN/inf; the last good checkpoint is kept."""


class UpdateResult(NamedTuple):
    """What one policy update passes on to the step's metrics."""

    losses: list[float]  # one per optimizer step
    stats: list[dict]  # one per optimizer step (``merge_micro_stats`` of its micro-batches)
    grad_norm: float  # of the last optimizer step (NaN without clipping or steps)
    times: dict[str, float]  # seconds per phase: frozen_logps, forward_backward, optimizer


def mean(values) -> float:
    """Mean of the finite values (NaN when there are none).

    >>> mean([1.0, None, float("nan"), 3.0])
    2.0
    """
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def merge_micro_stats(stats: list[dict]) -> dict:
    """The minibatch's metrics from its micro-batches': ``num_tokens`` adds up, every other metric is a per-token mean
    and is weighted by its micro-batch's ``num_tokens``, so the result equals the one-batch value.

    >>> merge_micro_stats([{"num_tokens": 3.0, "kl": 1.0}, {"num_tokens": 1.0, "kl": 5.0}])
    {'num_tokens': 4.0, 'kl': 2.0}
    """
    weights = [s["num_tokens"] for s in stats]
    merged = {"num_tokens": float(sum(weights))}
    for key in stats[0]:
        pairs = [(s[key], w) for s, w in zip(stats, weights) if key in s and not math.isnan(s[key])]
        if key != "num_tokens":
            total = sum(w for _, w in pairs)
            merged[key] = sum(v * w for v, w in pairs) / total if total else float("nan")
    return merged


def micro_batches(n: int, size: int | None, device=None) -> tuple[torch.Tensor, ...]:
    """Row indices ``0..n-1`` in consecutive micro-batches of at most ``size`` rows (``None``: one batch).

    >>> [idx.tolist() for idx in micro_batches(5, 2)]
    [[0, 1], [2, 3], [4]]
    """
    rows = torch.arange(n, device=device)
    return rows.split(size) if size else (rows,)


class PolicyUpdate:
    """Runs the update phase of a GRPO step over a :class:`PolicyBatch`; see the module docstring.

    Args:
        cfg: the run's config (``grpo``, ``optim`` and ``rollout.temperature`` / ``max_new_tokens`` are read).
        accelerator: the run's ``accelerate.Accelerator``.
        model, optimizer, scheduler: the prepared policy, its AdamW and its LR schedule.
        reference: pi_ref (:mod:`minirl.trainer.reference`), or None (beta == 0, or LoRA: the base with the adapter
            disabled).
        engine: the rollout engine, told to sync after each optimizer step.
        checkpoint_dir: named in the error message when the loss diverges.
        memory: records the peak memory of each phase (``frozen_logps``, ``forward_backward``, ``optimizer``).
    """

    def __init__(
        self,
        cfg,
        accelerator,
        model,
        optimizer,
        scheduler,
        reference,
        engine,
        checkpoint_dir: Path,
        memory: PeakMemory | None = None,
    ):
        self.cfg, self.accelerator = cfg, accelerator
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.reference, self.engine = reference, engine
        self.checkpoint_dir = checkpoint_dir
        self.memory = memory or PeakMemory(accelerator.device)
        self.times: dict[str, float] = defaultdict(float)  # seconds per phase of the last call to run()
        self.released = False  # release_optimizer_state() was called: no more updates
        g = cfg.grpo
        self.loss_params = LossParams(
            loss_type=g.loss_type,
            epsilon_low=g.epsilon_low,
            epsilon_high=g.epsilon_high,
            beta=g.beta,
            tis_cap=g.tis_cap,
        )

    def log_probs(
        self, model, batch: PolicyBatch, entropy: bool = False, prompts: SharedPrompts | None = None
    ):
        """``(logps [n, C], entropy [n, C] or None)`` of the batch's completions under ``model``; ``prompts``: their
        prompts already prefilled (``batch.group_index`` points into them)."""
        with self.accelerator.autocast():
            if prompts is not None:
                return prompts.logprobs(
                    batch.completion_ids,
                    batch.completion_mask,
                    batch.group_index,
                    temperature=self.cfg.rollout.temperature,
                    compute_entropy=entropy,
                )
            return grouped_completion_logprobs(
                model,
                batch.prompt_ids,
                batch.prompt_mask,
                batch.completion_ids,
                batch.completion_mask,
                batch.group_index,
                temperature=self.cfg.rollout.temperature,
                compute_entropy=entropy,
            )

    @torch.no_grad()
    def frozen_logps(self, which: str, batch: PolicyBatch) -> torch.Tensor:
        """Old-policy (``"old"``) or reference (``"ref"``) log-probs, no grad, in micro-batches. [N, C]"""
        out = torch.zeros(batch.completion_ids.shape, dtype=torch.float32, device=batch.completion_ids.device)
        if which == "ref" and self.reference is not None:
            where = self.reference.use()  # the frozen copy
        elif which == "ref":  # LoRA: the base model, the adapter disabled, is the reference
            where = self.accelerator.unwrap_model(self.model).disable_adapter()
        else:
            where = contextlib.nullcontext()
        with where as reference:  # None: the policy's own forward
            model = self.model if reference is None else reference
            parts = micro_batches(batch.size, self.cfg.optim.micro_batch_size, out.device)
            prompts = self.shared_prompts(model, batch) if len(parts) > 1 else None  # prefilled once
            for idx in parts:
                # a micro-batch may be narrower than the batch: it keeps its own longest completion
                part = batch.select(idx, keep_prompts=prompts is not None)
                lp, _ = self.log_probs(model, part, prompts=prompts)
                out[idx, : lp.shape[1]] = lp.float()
        return out  # [N, C]

    def shared_prompts(self, model, batch: PolicyBatch) -> SharedPrompts:
        """The batch's prompts prefilled once for all of its micro-batches (:class:`minirl.grpo.SharedPrompts`)."""
        with self.accelerator.autocast():
            return SharedPrompts(model, batch.prompt_ids, batch.prompt_mask)

    def release_optimizer_state(self) -> None:
        """Free the optimizer's state (AdamW: two floats per trainable parameter) after the run's last update, so the
        final evaluation and saving run without it. A later :meth:`run` raises instead of restarting the moments
        from zero."""
        self.optimizer.state.clear()
        self.released = True

    def run(self, batch: PolicyBatch, step: int) -> UpdateResult:
        """All passes and minibatches over ``batch``: the losses, per-update stats, last grad norm and phase times."""
        if self.released:
            raise RuntimeError(
                "This run has ended and its optimizer state was freed; continue it from a checkpoint "
                "(--checkpoint.resume latest with --checkpoint.every > 0)."
            )
        cfg = self.cfg
        self.times = defaultdict(float)
        losses, stats, grad_norm = [], [], float("nan")
        if batch.size == 0:
            return UpdateResult(losses, stats, grad_norm, {})
        t0 = time.perf_counter()
        need_old = cfg.grpo.num_iterations > 1 or cfg.grpo.num_minibatches > 1
        with self.memory.phase("frozen_logps"):
            batch.old_logps = self.frozen_logps("old", batch) if need_old else None
            batch.ref_logps = self.frozen_logps("ref", batch) if cfg.grpo.beta > 0 else None
        self.times["frozen_logps"] += time.perf_counter() - t0
        for _ in range(cfg.grpo.num_iterations):
            for mb in torch.arange(batch.size, device=batch.completion_ids.device).chunk(
                cfg.grpo.num_minibatches
            ):
                loss, st, grad_norm = self.optimizer_step(batch.select(mb), step)
                losses.append(loss)
                stats.append(st)
        return UpdateResult(losses, stats, grad_norm, dict(self.times))

    def optimizer_step(self, batch: PolicyBatch, step: int) -> tuple[float, dict, float]:
        """One AdamW step over a minibatch, in micro-batches: (loss, stats, grad norm)."""
        cfg, acc = self.cfg, self.accelerator
        t0 = time.perf_counter()
        # the loss_type's denominator of this whole minibatch, over every process: micro-batches and processes add up
        normalizer = minibatch_normalizer(
            cfg.grpo.loss_type,
            batch.completion_mask,
            cfg.rollout.max_new_tokens,
            self.sum_over_processes,
            acc.num_processes,
        )
        total_loss, all_stats = 0.0, []
        with self.memory.phase("forward_backward"):
            parts = micro_batches(batch.size, cfg.optim.micro_batch_size, batch.completion_ids.device)
            share = len(parts) > 1 and SharedPrompts.applies(self.model, acc.num_processes)
            prompts = self.shared_prompts(self.model, batch) if share else None  # prefilled once, no grad
            for idx in parts:
                part = batch.select(idx, keep_prompts=share)
                loss, st = self.micro_step(part, normalizer, step, prompts)
                total_loss += loss
                all_stats.append(st)
            if prompts is not None:
                with acc.autocast():
                    prompts.backward()  # the prompts' share of the gradient, once for all micro-batches
        t1 = time.perf_counter()
        self.times["forward_backward"] += t1 - t0
        with self.memory.phase("optimizer"):
            grad_norm = float("nan")
            if cfg.optim.max_grad_norm > 0:
                grad_norm = float(acc.clip_grad_norm_(self.model.parameters(), cfg.optim.max_grad_norm))
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)  # the gradients are not kept through the next rollout
            self.scheduler.step()
            self.engine.sync_weights()
        self.times["optimizer"] += time.perf_counter() - t1
        return total_loss, merge_micro_stats(all_stats), grad_norm

    def micro_step(
        self, part: PolicyBatch, normalizer: torch.Tensor, step: int, prompts: SharedPrompts | None = None
    ) -> tuple[float, dict]:
        """Forward and backward of one micro-batch (its share of the minibatch loss): ``(loss, stats)``."""
        logps, ent = self.log_probs(self.model, part, entropy=True, prompts=prompts)  # [n_i, C]
        out = grpo_loss(
            logps,
            part.old_logps,
            part.ref_logps,
            part.advantages,
            part.completion_mask,
            self.loss_params,
            normalizer=normalizer,
            sampling_logps=part.sampling_logps,
        )
        if not torch.isfinite(out.loss):
            raise TrainingDivergedError(
                f"Loss is {float(out.loss)} at step {step + 1}. The last good checkpoint is kept in "
                f"{self.checkpoint_dir}. Try a lower optim.lr, optim.max_grad_norm 1.0, or fp32."
            )
        self.accelerator.backward(out.loss)
        st = dict(out.metrics)
        m = part.completion_mask.float()  # [n_i, C]
        if ent is not None:
            st["entropy"] = float((ent * m).sum() / m.sum().clamp(min=1))
        st["num_tokens"] = float(m.sum())  # the weight of this micro-batch's per-token means
        return out.loss.item(), st

    def sum_over_processes(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over the processes (itself with one)."""
        acc = self.accelerator
        return value if acc.num_processes == 1 else acc.reduce(value, reduction="sum")
