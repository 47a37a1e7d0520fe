"""The GRPO training loop: rollout -> rewards -> group advantages -> clipped policy-gradient updates.

One step (DeepSeekMath arXiv:2402.03300, Algorithm 1, with the DAPO/Dr. GRPO variants of ``minirl.grpo``):

1. take ``prompts_per_step`` prompts on each process and sample G completions each (``minirl.rollout``);
2. score them with the rule rewards (``rewards`` package), weighted and None-aware;
3. normalise rewards within each group into advantages; optionally drop zero-variance groups (DAPO);
4. for ``num_iterations`` passes (mu) and ``num_minibatches`` minibatches, compute token log-probs, the clipped loss and
   the k3 KL to the reference (only when beta > 0), and take an AdamW step.

Departures from the paper: the "old policy" is the current one when mu == 1 and there is one minibatch (the ratio is 1
and its gradient is the policy gradient, so no extra forward is spent); the reference model is the LoRA base with the
adapter disabled, or a frozen copy only when beta > 0.
"""

from __future__ import annotations

import math
import os
import random
import signal
import sys
import time
from pathlib import Path

import torch

from minirl.config import TrainConfig
from minirl.files import dumps
from minirl.grpo import (
    compute_advantages,
    grouped_completion_logprobs,
    grpo_loss,
    minibatch_normalizer,
    rewards_to_tensor,
    zero_variance_groups,
)
from minirl.rollout.generate import Rollout
from minirl.tasks import Example, PromptStyle, Task, build_prompt, get_task
from minirl.trainer import checkpoint as ckpt
from minirl.trainer import runlogs
from minirl.trainer.batch import PolicyBatch
from minirl.trainer.data import PromptSchedule
from minirl.trainer.rewards import RewardSet
from minirl.trainer.setup import make_optimizer, prepare_policy


class TrainingDivergedError(RuntimeError):
    """The loss became NaN/inf; the last good checkpoint is kept."""


def _mean(values: list[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


class GRPOTrainer:
    """Train a causal LM with GRPO on a task, with rule rewards.

    Args:
        config: the full run configuration.
        model, tokenizer: pass them to skip loading ``config.model.name`` (tests, notebooks).
        task: pass a :class:`~minirl.tasks.Task` to skip ``get_task(config.data.task)``.
        reward_spec: ``{name: weight}`` or ``[(name, fn, weight)]``; default ``config.grpo.rewards`` or the task's.
        accelerator: an ``accelerate.Accelerator`` (one is created if omitted).
    """

    def __init__(
        self,
        config: TrainConfig,
        model=None,
        tokenizer=None,
        task: Task | None = None,
        reward_spec=None,
        accelerator=None,
    ):
        from accelerate import Accelerator

        from minirl.models import load_model_and_tokenizer, pick_device, pick_dtype

        self.cfg = cfg = config
        device = pick_device(cfg.model.device)
        compute_dtype = pick_dtype(device, cfg.model.dtype)
        mixed = (
            "bf16"
            if compute_dtype == torch.bfloat16
            else ("fp16" if compute_dtype == torch.float16 else "no")
        )
        if device.type == "cpu":
            mixed = "no" if cfg.model.dtype == "auto" else mixed
        self.accelerator = accelerator or Accelerator(
            cpu=device.type == "cpu",
            mixed_precision=mixed,
            log_with=cfg.run.report_to or None,
            project_dir=cfg.run.output_dir,
        )
        acc = self.accelerator
        if device.type == "cpu" or cfg.run.threads:
            # `accelerate launch` sets OMP_NUM_THREADS=1, which makes a CPU run 2x slower on 2 cores: share the cores.
            torch.set_num_threads(cfg.run.threads or max(1, (os.cpu_count() or 1) // acc.num_processes))
        self.out = Path(cfg.run.output_dir)
        if acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
        random.seed(cfg.run.seed)
        torch.manual_seed(cfg.run.seed)

        # Task and prompts (validated before the model is loaded, so data errors come fast).
        self.task = task or get_task(cfg.data.task, **cfg.data.task_args)
        n_train = cfg.data.train_size
        if n_train is None and getattr(self.task, "procedural", True) and cfg.data.task != "gsm8k":
            n_train = 10_000
        self.train_examples = self.task.examples("train", n=n_train, seed=cfg.run.seed)
        self.eval_examples = (
            self.task.examples("test", n=cfg.data.eval_size, seed=cfg.run.seed) if cfg.data.eval_size else []
        )
        self.schedule = PromptSchedule(self.train_examples, cfg.rollout.prompts_per_step, cfg.run.seed)
        spec = reward_spec or cfg.grpo.rewards or dict(self.task.default_rewards)
        self.reward_set = RewardSet(spec)
        self._check_gold_columns()
        from minirl.diagnostics import LiveDiagnostics

        self.diagnostics = LiveDiagnostics(
            cfg, rewards=dict(zip(self.reward_set.names, self.reward_set.weights))
        )
        if acc.is_main_process:
            self.diagnostics.write_to(self.out / "diagnostics.log")

        # Model (fp32 master weights; on GPU the forward runs under bf16 autocast through accelerate).
        if model is None:
            model, tokenizer = load_model_and_tokenizer(
                cfg.model.name,
                device=str(device),
                dtype="fp32" if mixed != "no" else cfg.model.dtype,
                trust_remote_code=cfg.model.trust_remote_code,
            )
        if tokenizer is None:
            raise ValueError("Pass a tokenizer together with the model.")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        self.style = PromptStyle.from_config(cfg.data)
        model, self.ref_model = prepare_policy(model, cfg)
        model.to(acc.device)
        if self.ref_model is not None:
            self.ref_model.to(acc.device)
        optimizer, self.scheduler = make_optimizer(model, cfg)
        self.updates_per_step = cfg.grpo.num_iterations * cfg.grpo.num_minibatches
        self.model, self.optimizer = acc.prepare(model, optimizer)
        from minirl.rollout.engines import make_engine

        # vLLM's engine is attached by the recipe (minirl.backends.vllm_rollout) and replaces this one.
        engine = "exact" if cfg.rollout.engine == "vllm" else cfg.rollout.engine
        self.engine = make_engine(engine, self.unwrapped, acc.device)
        self.generator = torch.Generator(device=acc.device).manual_seed(
            cfg.run.seed * 1000 + acc.process_index
        )
        self.step = 0
        self._stop_requested = False
        self._restart = False  # --checkpoint.resume latest found no checkpoint

    # ----------------------------------------------------------------------------------------------------------------
    def _check_gold_columns(self) -> None:
        """Score the task's ideal completion once, so a reward that needs a column the task lacks fails now."""
        import inspect

        from minirl.tasks import render_completion

        ex = self.train_examples[0]
        available = set(ex.reward_kwargs())
        text = render_completion(ex, "Let me add the numbers step by step.", self.task.answer_text(ex))
        kwargs = {k: [v] for k, v in ex.reward_kwargs().items()}
        for name, fn in zip(self.reward_set.names, self.reward_set.funcs):
            target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else fn.__call__
            try:
                params = [
                    p
                    for p in inspect.signature(target).parameters.values()
                    if p.name not in ("self", "completions", "prompts", "completion_ids", "kwargs")
                    and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
                ]
            except (TypeError, ValueError):
                params = []
            missing = [p.name for p in params if p.name not in available and p.name != "language"]
            try:
                values = fn([text], prompts=[""], completion_ids=[[0]], **kwargs)
            except (TypeError, ValueError) as err:  # the reward itself says what it lacks
                values, missing = [None], missing or [str(err)]
            if missing and (
                values[0] is None
                or any(p.default is inspect.Parameter.empty for p in params if p.name in missing)
            ):
                raise ValueError(
                    f"Reward '{name}' needs the gold column '{missing[0]}', which task '{self.task.name}' does not "
                    f"provide (it has: {', '.join(sorted(available)) or 'none'}). Pick rewards that fit the task."
                )

    @property
    def unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    def prompts_for(self, examples: list[Example]) -> list[str]:
        """Render prompts with the run's template."""
        return [build_prompt(ex, self.tokenizer, self.style, task=self.task) for ex in examples]

    def rollout(
        self,
        examples: list[Example],
        num_generations: int | None = None,
        temperature: float | None = None,
        max_new_tokens: int | None = None,
    ) -> Rollout:
        """Sample completions for ``examples`` with the run's settings (or the given overrides)."""
        r = self.cfg.rollout
        with self.accelerator.autocast():
            return self.engine.generate(
                self.tokenizer,
                self.prompts_for(examples),
                num_generations=num_generations or r.num_generations,
                max_new_tokens=max_new_tokens or r.max_new_tokens,
                temperature=r.temperature if temperature is None else temperature,
                top_p=r.top_p,
                stop_strings=("</answer>",) if r.stop_at_answer else (),
                generator=self.generator,
            )

    def score(self, examples: list[Example], roll: Rollout) -> tuple[torch.Tensor, dict[str, float], list]:
        """Rewards for a rollout: (total [N], metrics, per-function values)."""
        g = roll.num_generations
        kwargs: dict[str, list] = {}
        for ex in examples:
            for key, value in ex.reward_kwargs().items():
                kwargs.setdefault(key, []).extend([value] * g)
        kwargs["prompts"] = [p for p in roll.prompts for _ in range(g)]
        kwargs["completion_ids"] = roll.completion_token_lists()
        per_func, metrics = self.reward_set.score(roll.texts, **kwargs)
        total, _ = rewards_to_tensor(per_func, self.reward_set.weights)
        metrics.update(self._quality_metrics(roll, kwargs))
        return total.to(self.accelerator.device), metrics, per_func

    def _quality_metrics(self, roll: Rollout, kwargs: dict) -> dict[str, float]:
        """Accuracy, format and language metrics that are logged whether or not they are trained on."""
        import rewards

        acc = self.task.correct(roll.texts, **kwargs)
        fmt = rewards.format_reward(roll.texts)
        lang = rewards.language_consistency_reward(roll.texts, language=self.cfg.data.language)
        lengths = roll.lengths.float()
        return {
            "accuracy": _mean(acc),
            "format_rate": _mean(fmt),
            "language/target_share": _mean(lang),
            "language/mixed_rate": _mean([float(v < rewards.MIXED_BELOW) for v in lang if v is not None]),
            "completion_length/mean": float(lengths.mean()),
            "completion_length/max": float(lengths.max()),
            "truncated_rate": float(roll.truncated.float().mean()),
        }

    # ----------------------------------------------------------------------------------------------------------------
    def _logps(self, model, batch: PolicyBatch, entropy: bool = False):
        with self.accelerator.autocast():
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
    def _frozen_logps(self, which: str, batch: PolicyBatch) -> torch.Tensor:
        """Old-policy or reference log-probs (no grad), in micro-batches."""
        out = torch.zeros(batch.completion_ids.shape, dtype=torch.float32, device=batch.completion_ids.device)
        for idx in torch.arange(batch.size, device=batch.completion_ids.device).chunk(
            self.cfg.optim.grad_accum
        ):
            part = batch.select(idx)  # may be narrower than the batch: it keeps its own longest completion
            if which == "ref" and self.ref_model is None:  # LoRA: the base model is the reference
                with self.unwrapped.disable_adapter():
                    lp, _ = self._logps(self.model, part)
            elif which == "ref":
                lp, _ = self._logps(self.ref_model, part)
            else:
                lp, _ = self._logps(self.model, part)
            out[idx, : lp.shape[1]] = lp.float()
        return out  # [N, C]

    def train_step(self) -> dict[str, float]:
        """One rollout batch and its updates; returns the step's metrics (gathered across processes)."""
        cfg, acc = self.cfg, self.accelerator
        t0 = time.perf_counter()
        examples = self.schedule.batch(self.step, acc.process_index, acc.num_processes)
        self.model.eval()
        roll = self.rollout(examples)
        t_roll = time.perf_counter() - t0
        total, metrics, per_func = self.score(examples, roll)
        g = roll.num_generations
        # [N] False where every reward said "not applicable": left out of the group statistics
        valid = torch.tensor(
            [any(v is not None and not math.isnan(v) for v in row) for row in zip(*per_func)],
            device=total.device,
        )
        advantages = compute_advantages(
            total, g, scale=cfg.grpo.scale_rewards, valid=valid, sum_over_processes=self._sum_over_processes
        )  # [N]
        zero_var = zero_variance_groups(total, g)  # [B]
        metrics["reward"] = float(total.mean())
        metrics["reward_std"] = float(total.std()) if total.numel() > 1 else 0.0
        metrics["zero_variance_frac"] = float(zero_var.float().mean())
        every = cfg.run.sample_every
        if every and (self.step == 0 or (self.step + 1) % every == 0):
            self._write_samples(examples, roll, total)

        keep = torch.ones_like(total, dtype=torch.bool)  # [N]
        if cfg.grpo.dynamic_sampling:
            keep = (~zero_var).repeat_interleave(g)  # [N] DAPO: groups without signal are dropped
        batch = PolicyBatch.from_rollout(roll, advantages).select(keep.nonzero(as_tuple=True)[0])

        self.model.train()
        t1 = time.perf_counter()
        losses, stats = [], []
        grad_norm = float("nan")
        if batch.size > 0:
            need_old = cfg.grpo.num_iterations > 1 or cfg.grpo.num_minibatches > 1
            batch.old_logps = self._frozen_logps("old", batch) if need_old else None
            batch.ref_logps = self._frozen_logps("ref", batch) if cfg.grpo.beta > 0 else None
            for _ in range(cfg.grpo.num_iterations):
                for mb in torch.arange(batch.size, device=total.device).chunk(cfg.grpo.num_minibatches):
                    loss_val, st, grad_norm = self._update(batch.select(mb))
                    losses.append(loss_val)
                    stats.append(st)
        t_train = time.perf_counter() - t1
        for key in stats[0] if stats else []:
            metrics[key.removesuffix("_mean")] = _mean([s[key] for s in stats])
        gen_tokens = float(roll.lengths.sum())
        metrics.update(
            {
                "loss": _mean(losses),
                "grad_norm": grad_norm,
                "lr": self.scheduler.get_last_lr()[0],
                "step_time": time.perf_counter() - t0,
                "rollout_time": t_roll,
                "train_time": t_train,
                "tokens_per_s": gen_tokens / max(t_roll, 1e-9),
                "kept_frac": float(keep.float().mean()),
            }
        )
        return self._gather(metrics)

    def _update(self, batch: PolicyBatch) -> tuple[float, dict, float]:
        """One optimizer step over a minibatch, in ``grad_accum`` micro-batches."""
        cfg, acc = self.cfg, self.accelerator
        n = batch.size
        # the loss_type's denominator of this whole minibatch, over every process: micro-batches and processes add up
        normalizer = minibatch_normalizer(
            cfg.grpo.loss_type,
            batch.completion_mask,
            cfg.rollout.max_new_tokens,
            self._sum_over_processes,
            acc.num_processes,
        )
        self.optimizer.zero_grad(set_to_none=True)
        total_loss, all_stats = 0.0, []
        for idx in torch.arange(n, device=batch.completion_ids.device).chunk(cfg.optim.grad_accum):
            part = batch.select(idx)
            logps, ent = self._logps(self.model, part, entropy=True)  # [n_i, C]
            out = grpo_loss(
                logps,
                part.old_logps,
                part.ref_logps,
                part.advantages,
                part.completion_mask,
                loss_type=cfg.grpo.loss_type,
                epsilon_low=cfg.grpo.epsilon_low,
                epsilon_high=cfg.grpo.epsilon_high,
                beta=cfg.grpo.beta,
                max_completion_length=cfg.rollout.max_new_tokens,
                normalizer=normalizer,
                sampling_logps=part.sampling_logps,
                tis_cap=cfg.grpo.tis_cap,
            )
            loss = out.loss
            if not torch.isfinite(loss):
                raise TrainingDivergedError(
                    f"Loss is {float(loss)} at step {self.step + 1}. The last good checkpoint is kept in "
                    f"{ckpt.checkpoint_root(self.out)}. Try a lower optim.lr, optim.max_grad_norm 1.0, or fp32."
                )
            acc.backward(loss)
            total_loss += loss.item()
            st = dict(out.metrics)
            m = part.completion_mask.float()
            if ent is not None:
                st["entropy"] = float((ent * m).sum() / m.sum().clamp(min=1))
            all_stats.append(st)
        grad_norm = float("nan")
        if cfg.optim.max_grad_norm > 0:
            grad_norm = float(acc.clip_grad_norm_(self.model.parameters(), cfg.optim.max_grad_norm))
        self.optimizer.step()
        self.scheduler.step()
        self.engine.sync_weights()
        merged = {k: _mean([s[k] for s in all_stats if k in s]) for k in all_stats[0]}
        return total_loss, merged, grad_norm

    def _sum_over_processes(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over the processes (itself with one)."""
        acc = self.accelerator
        return value if acc.num_processes == 1 else acc.reduce(value, reduction="sum")

    def _gather(self, metrics: dict[str, float]) -> dict[str, float]:
        acc = self.accelerator
        if acc.num_processes == 1:
            return metrics
        keys = sorted(metrics)
        vals = torch.tensor([metrics[k] for k in keys], dtype=torch.float64, device=acc.device)
        gathered = acc.gather(vals.unsqueeze(0))  # [world, K]
        mean = torch.nanmean(gathered, dim=0)
        return {k: float(v) for k, v in zip(keys, mean)}

    # ----------------------------------------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        """Write a resumable checkpoint (main process)."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return None
        return ckpt.save_checkpoint(
            self.out,
            self.step,
            self.unwrapped,
            self.optimizer.optimizer if hasattr(self.optimizer, "optimizer") else self.optimizer,
            self.scheduler,
            self.generator,
            {"config": self.cfg.to_dict()},
            keep_last=self.cfg.checkpoint.keep_last,
        )

    def _prepare_run_dir(self) -> None:
        """Fresh run: refuse to mix with an older run unless ``run.overwrite`` (or a ``--checkpoint.resume latest``
        that found no checkpoint). Resumed run: drop the log records the resumed run writes again (``runlogs``)."""
        if not self.accelerator.is_main_process:
            return
        logs = [self.out / name for name in runlogs.LOGS]
        if self.step == 0 and any(p.exists() for p in logs):
            if not (self.cfg.run.overwrite or self._restart):
                raise FileExistsError(
                    f"{self.out} already holds a run (metrics.jsonl). Continue it with --checkpoint.resume latest, pick "
                    f"another --run.output_dir, or replace it with --run.overwrite true."
                )
            for p in logs:
                p.unlink(missing_ok=True)
        if self.step > 0:
            runlogs.truncate_for_resume(self.out, self.step, self.cfg.run.max_steps)
        self.cfg.save(self.out / "config.yaml")

    def resume(self, where: str) -> None:
        """Continue from ``latest`` or a checkpoint path; ``latest`` without any checkpoint starts from step 0."""
        if where == "latest" and not ckpt.list_checkpoints(self.out):
            self._restart = True  # a run killed before its first checkpoint: its logs are replaced
            root = ckpt.checkpoint_root(self.out)
            self.accelerator.print(
                f"[minirl] --checkpoint.resume latest: no checkpoint in {root}; starting from step 0."
            )
            return
        path = ckpt.find_checkpoint(where, self.out)
        opt = self.optimizer.optimizer if hasattr(self.optimizer, "optimizer") else self.optimizer
        state = ckpt.load_checkpoint(path, self.unwrapped, opt, self.scheduler, self.generator)
        self.step = int(state["step"])
        self.accelerator.print(f"[minirl] resumed from {path} at step {self.step}")

    def save_model(self, path: Path | None = None) -> Path:
        """Save the final model in HF format (safetensors); LoRA is merged when ``checkpoint.merge_lora``."""
        path = path or self.out / "model"
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            model = self.unwrapped
            if self.cfg.model.lora and self.cfg.checkpoint.merge_lora:
                import copy

                model = copy.deepcopy(model).merge_and_unload()
            model.save_pretrained(path, safe_serialization=True)
            self.tokenizer.save_pretrained(path)
        return path

    def _write(self, name: str, record: dict) -> None:
        if self.accelerator.is_main_process:
            with open(self.out / name, "a") as f:
                f.write(dumps(record, default=float) + "\n")

    def _write_samples(self, examples: list[Example], roll: Rollout, total: torch.Tensor, n: int = 2) -> None:
        g = roll.num_generations
        for i in range(min(n, len(examples))):
            self._write(
                "samples.jsonl",
                {
                    "step": self.step,
                    "question": examples[i].question,
                    "answer": examples[i].answer,
                    "completions": roll.texts[i * g : (i + 1) * g][:4],
                    "rewards": [float(x) for x in total[i * g : (i + 1) * g][:4]],
                },
            )

    def _install_sigint(self):
        def handler(signum, frame):
            if self._stop_requested:  # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._stop_requested = True
            self.accelerator.print(
                "\n[minirl] Ctrl-C: finishing this step, saving a checkpoint, then stopping "
                "(press again to stop at once)."
            )

        try:
            return signal.signal(signal.SIGINT, handler)
        except ValueError:  # not in the main thread
            return None

    def train(self) -> dict[str, float]:
        """Run to ``run.max_steps``; returns the last step's metrics."""
        from tqdm.auto import tqdm

        cfg, acc = self.cfg, self.accelerator
        if cfg.checkpoint.resume:
            self.resume(cfg.checkpoint.resume)
        self._prepare_run_dir()
        if cfg.run.preflight and self.step == 0:
            from minirl.diagnostics import check_preflight

            check_preflight(self, force=cfg.run.preflight_force)
        if cfg.run.report_to:
            acc.init_trackers(cfg.run.run_name or self.out.name, config=cfg.to_dict())
        if cfg.eval.at_start and self.step == 0:
            self._evaluate("start")
        previous = self._install_sigint()
        bar = tqdm(
            total=cfg.run.max_steps,
            initial=self.step,
            desc="GRPO",
            disable=not acc.is_main_process,
            dynamic_ncols=True,
            file=sys.stdout,
        )
        last: dict[str, float] = {}
        try:
            while self.step < cfg.run.max_steps:
                last = self.train_step()
                self.step += 1
                last["step"] = self.step
                for line in self.diagnostics.update(self.step, last):
                    if acc.is_main_process:
                        bar.write(line)
                if self.step % cfg.run.log_every == 0 or self.step == cfg.run.max_steps:
                    self._write("metrics.jsonl", {"type": "train", **last})
                    if cfg.run.report_to:
                        acc.log(last, step=self.step)
                bar.set_postfix_str(self.progress_line(last), refresh=False)
                bar.update(1)
                if cfg.eval.every and self.step % cfg.eval.every == 0 and self.step < cfg.run.max_steps:
                    self._evaluate("train")
                if cfg.checkpoint.every and self.step % cfg.checkpoint.every == 0:
                    self.save_checkpoint()
                if self._stop_requested:
                    path = self.save_checkpoint()
                    acc.print(
                        f"[minirl] stopped at step {self.step}; checkpoint: {path}. "
                        f"Continue with --checkpoint.resume latest --run.output_dir {self.out}"
                    )
                    return last
        finally:
            bar.close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if cfg.eval.at_end and self.eval_examples:
            self._evaluate("end")
        if cfg.checkpoint.save_model:
            self.save_model()
        if cfg.checkpoint.every:
            self.save_checkpoint()
        if cfg.run.report_to:
            acc.end_training()
        return last

    def write_report(self) -> Path | None:
        """Write ``report.md`` with curves into the run directory (main process)."""
        if not self.accelerator.is_main_process:
            return None
        from minirl.trainer.report import write_report

        path = write_report(self.out)
        self.accelerator.print(f"[minirl] report: {path}")
        return path

    @staticmethod
    def progress_line(m: dict[str, float]) -> str:
        """The numbers that explain a GRPO step (not its loss, which is ~0 by construction).

        >>> GRPOTrainer.progress_line({"reward": 1.5, "rewards/format/mean": 1.0, "zero_variance_frac": 0.5})
        'reward 1.50 (format 1.00) | zero-var 0.50'
        """
        per_reward = [
            f"{key[len('rewards/') : -len('/mean')]} {value:.2f}"
            for key, value in m.items()
            if key.startswith("rewards/") and key.endswith("/mean") and not math.isnan(value)
        ]
        parts = [
            f"reward {m.get('reward', float('nan')):.2f}"
            + (f" ({', '.join(per_reward)})" if per_reward else "")
        ]
        for key, label in (
            ("zero_variance_frac", "zero-var"),
            ("completion_length/mean", "len"),
            ("kl", "kl"),
            ("step_time", "s/step"),
        ):
            if key in m and not math.isnan(m[key]):
                parts.append(
                    f"{label} {m[key]:.2f}" if key != "completion_length/mean" else f"{label} {m[key]:.0f}"
                )
        return " | ".join(parts)

    def _evaluate(self, when: str) -> dict[str, float] | None:
        if not self.eval_examples:
            return None
        from minirl.eval.runner import evaluate_examples

        acc = self.accelerator
        self.model.eval()
        result = None
        if acc.is_main_process:
            result = evaluate_examples(
                self.unwrapped,
                self.tokenizer,
                self.task,
                self.eval_examples,
                self.style,
                k=self.cfg.eval.k,
                temperature=self.cfg.eval.temperature,
                max_new_tokens=self.cfg.eval.max_new_tokens or self.cfg.rollout.max_new_tokens,
                language=self.cfg.data.language,
                progress=False,
            )
            record = {
                "type": "eval",
                "step": self.step,
                "when": when,
                **{f"eval/{k}": v for k, v in result.flat().items()},
                "eval/accuracy": result.metrics["pass@1"].value,
            }
            self._write("metrics.jsonl", record)
            for line in self.diagnostics.update_eval(self.step, record):
                acc.print(line)
            if when == "end":
                result.save(self.out / "eval")
            acc.print(f"[minirl] eval ({when}, step {self.step}): " + result.summary_line())
        acc.wait_for_everyone()
        return result
