"""The GRPO training loop: rollout -> rewards -> group advantages -> clipped policy-gradient updates.

One step (DeepSeekMath arXiv:2402.03300, Algorithm 1, with the DAPO/Dr. GRPO variants of ``minirl.grpo``), as
:meth:`GRPOTrainer.train_step` reads:

1. take ``prompts_per_step`` prompts on each process and sample G completions each (``minirl.rollout``);
2. score them with the rule rewards (``minirl.trainer.rewards``), weighted and None-aware;
3. normalise rewards within each group into advantages; optionally drop zero-variance groups (DAPO);
4. for ``num_iterations`` passes (mu) and ``num_minibatches`` minibatches, compute token log-probs, the clipped loss and
   the k3 KL to the reference (only when beta > 0), and take an AdamW step (``minirl.trainer.update``).

Departures from the paper: the "old policy" is the current one when mu == 1 and there is one minibatch (the ratio is 1
and its gradient is the policy gradient, so no extra forward is spent); the reference model is the LoRA base with the
adapter disabled, or a frozen copy only when beta > 0. In ``minirl.trainer``: set-up and the resource check in
``setup``, the prompts in ``data``, the run directory, evaluation and each step's log in ``rundir``, the step's metrics
(phase times, token counts, peak memory) in ``metrics``, checkpoints and the final model in ``checkpoint``, Ctrl-C
in ``interrupt``.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import torch

import rewards
from minirl.config import TrainConfig
from minirl.diagnostics import PreflightInputs, check_preflight
from minirl.grpo import compute_advantages, zero_variance_groups
from minirl.memory import PeakMemory
from minirl.rollout.generate import Rollout
from minirl.tasks import Example, Task, build_prompt
from minirl.trainer import checkpoint as ckpt
from minirl.trainer.batch import PolicyBatch
from minirl.trainer.data import run_data
from minirl.trainer.interrupt import StopOnInterrupt
from minirl.trainer.metrics import StepTimes, gather_metrics, step_metrics
from minirl.trainer.report import write_report
from minirl.trainer.rewards import RewardSet, Scores, check_gold_columns, score_rollout
from minirl.trainer.rundir import EvalContext, RunDir, StepLog, evaluate_run, transfer_sets
from minirl.trainer.setup import (
    check_resources,
    distribute,
    load_policy,
    make_accelerator,
    make_optimizer,
    make_sampler,
    precision,
    prepare_policy,
    set_threads,
)
from minirl.trainer.update import PolicyUpdate, TrainingDivergedError

__all__ = ["GRPOTrainer", "TrainingDivergedError"]


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
        self.cfg = cfg = config
        device, mixed = precision(cfg)
        self.accelerator = acc = accelerator or make_accelerator(cfg, device, mixed)
        set_threads(cfg, device, acc.num_processes)
        self.out = Path(cfg.run.output_dir)
        self.run_dir = RunDir(self.out, is_main=acc.is_main_process)
        random.seed(cfg.run.seed)
        torch.manual_seed(cfg.run.seed)

        # Task and prompts (validated before the model is loaded, so data errors come fast).
        data = run_data(cfg.data, cfg.rollout.prompts_per_step, cfg.run.seed, task)
        self.task, self.style, self.schedule = data.task, data.style, data.schedule
        self.train_examples, self.eval_examples = data.train_examples, data.eval_examples
        self.transfer = transfer_sets(cfg, cfg.run.seed)  # tasks not trained on, evaluated at start and end
        self.reward_set = RewardSet(reward_spec or cfg.grpo.rewards or dict(self.task.default_rewards))
        check_gold_columns(self.reward_set, self.task, self.train_examples[0])
        self.diagnostics = self.run_dir.live_diagnostics(cfg, self.reward_set.names, self.reward_set.weights)

        # Model (fp32 master weights; on GPU the forward runs under bf16 autocast through accelerate).
        model, self.tokenizer = load_policy(cfg, device, mixed, model, tokenizer)
        model, self.reference = prepare_policy(model, cfg, acc.device, self.out, acc.process_index)
        optimizer, self.scheduler = make_optimizer(model, cfg)
        self.model, self.optimizer = distribute(acc, model, optimizer)
        self.engine = make_sampler(cfg, self.unwrapped, acc.device)
        self.memory = PeakMemory(acc.device)  # peak memory of each phase of a step
        self.update = PolicyUpdate(
            cfg, acc, self.model, self.optimizer, self.scheduler, self.reference, self.engine,
            ckpt.checkpoint_root(self.out), self.memory,
        )  # fmt: skip
        seed = cfg.run.seed * 1000 + acc.process_index  # the sampler's own stream on each process
        self.generator = torch.Generator(device=acc.device).manual_seed(seed)
        self.step = 0
        self._restart = False  # --checkpoint.resume latest found no checkpoint

    @property
    def unwrapped(self):
        """The policy without accelerate's wrapper (a ``transformers`` or peft model)."""
        return self.accelerator.unwrap_model(self.model)

    def eval_context(self) -> EvalContext:
        """What the held-out evaluation (:func:`~minirl.trainer.rundir.evaluate_run`) reads of this run, now."""
        return EvalContext(
            model=self.model,
            policy=self.unwrapped,
            tokenizer=self.tokenizer,
            style=self.style,
            task=self.task,
            examples=self.eval_examples,
            transfer=self.transfer,
            settings=self.cfg.eval,
            max_new_tokens=self.cfg.eval_max_new_tokens,
            language=self.cfg.data.language,
            step=self.step,
            accelerator=self.accelerator,
            run_dir=self.run_dir,
            diagnostics=self.diagnostics,
        )

    def preflight_inputs(self) -> PreflightInputs:
        """What the preflight check (:func:`~minirl.diagnostics.check_preflight`) reads of this run."""
        return PreflightInputs(
            cfg=self.cfg,
            examples=self.train_examples,
            generator=self.generator,
            model=self.model,
            rollout=self.rollout,
            score=self.score,
            reward_names=self.reward_set.names,
            reward_weights=self.reward_set.weights,
            accelerator=self.accelerator,
            out=self.out,
        )

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
                stop_strings=(rewards.ANSWER_CLOSE,) if r.stop_at_answer else (),
                generator=self.generator,
            )

    def score(self, examples: list[Example], roll: Rollout) -> Scores:
        """Rewards and quality metrics of a rollout (:func:`minirl.trainer.rewards.score_rollout`)."""
        return score_rollout(
            self.reward_set, self.task, examples, roll, self.cfg.data.language, self.accelerator.device
        )

    # ----------------------------------------------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        """One rollout batch and its updates; returns the step's metrics (gathered across processes)."""
        cfg, acc = self.cfg, self.accelerator
        self.memory.gib.clear()
        t0 = time.perf_counter()
        examples = self.schedule.batch(self.step, acc.process_index, acc.num_processes)
        self.model.eval()
        with self.memory.phase("rollout"):
            roll = self.rollout(examples)  # sample {o_1..o_G} for each question q
        t_roll = time.perf_counter()
        scores = self.score(examples, roll)  # r_i
        t_score = time.perf_counter()
        g, total = roll.num_generations, scores.total  # [N]
        advantages = compute_advantages(
            total, g, scale=cfg.grpo.scale_rewards, valid=scores.valid,
            sum_over_processes=self.update.sum_over_processes,
        )  # fmt: skip  # [N] A_i = (r_i - mean) / std within each group
        zero_var = zero_variance_groups(total, g)  # [B]
        self.run_dir.write_samples(self.step, cfg.run.sample_every, examples, roll, total)

        keep = torch.ones_like(total, dtype=torch.bool)  # [N]
        if cfg.grpo.dynamic_sampling:
            keep = (~zero_var).repeat_interleave(g)  # [N] DAPO: groups without signal are dropped
        batch = PolicyBatch.from_rollout(roll, advantages).select(keep.nonzero(as_tuple=True)[0])

        self.model.train()
        t1 = time.perf_counter()
        update = self.update.run(batch, self.step)  # mu passes x minibatches of AdamW steps
        times = StepTimes(t0, t_roll, t_score, t1, time.perf_counter())
        stage = self.schedule.stage(self.step) if cfg.data.curriculum else None
        lr = self.scheduler.get_last_lr()[0]
        metrics = step_metrics(scores, zero_var, update, lr, roll, keep, times, self.memory.metrics(), stage)
        return gather_metrics(metrics, acc)

    # ----------------------------------------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        """Write a resumable checkpoint (main process)."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return None
        return ckpt.save_checkpoint(
            self.out, self.step, self.unwrapped, ckpt.bare_optimizer(self.optimizer), self.scheduler,
            self.generator, {"config": self.cfg.to_dict()}, keep_last=self.cfg.checkpoint.keep_last,
        )  # fmt: skip

    def resume(self, where: str) -> None:
        """Continue from ``latest`` or a checkpoint path; ``latest`` without any checkpoint starts from step 0."""
        say = self.accelerator.print
        step = ckpt.resume_step(
            where, self.out, self.unwrapped, self.optimizer, self.scheduler, self.generator, say
        )
        self._restart = step is None  # a run killed before its first checkpoint: its logs are replaced
        if step is not None:
            self.step = step
            self.engine.sync_weights()  # a sampler copy was made from the weights before they were restored

    def save_model(self, path: Path | None = None) -> Path:
        """Save the final model in HF format (safetensors); LoRA is merged when ``checkpoint.merge_lora``."""
        path = path or self.out / "model"
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            merge = self.cfg.model.lora and self.cfg.checkpoint.merge_lora
            device = self.accelerator.device
            record = ckpt.save_final_model(self.unwrapped, self.tokenizer, path, merge, device, self.step)
            self.run_dir.write("metrics.jsonl", record)
        return path

    def train(self) -> dict[str, float]:
        """Run to ``run.max_steps``; returns the last step's metrics."""
        cfg, acc = self.cfg, self.accelerator
        if cfg.checkpoint.resume:
            self.resume(cfg.checkpoint.resume)
        self.run_dir.prepare(cfg, self.step, restart=self._restart)
        if cfg.run.preflight:  # the memory estimate, checked; a warning when the run folder's disk is short
            prompts = self.prompts_for(self.train_examples[:64] + self.eval_examples[:64])
            check_resources(
                self.unwrapped, self.tokenizer, prompts, cfg, self.out, acc.device, acc.print, self.reference
            )
        if cfg.run.preflight and self.step == 0:
            check_preflight(self.preflight_inputs(), force=cfg.run.preflight_force)
        if cfg.run.report_to:
            acc.init_trackers(cfg.run.run_name or self.out.name, config=cfg.to_dict())
        if cfg.eval.at_start and self.step == 0:
            evaluate_run(self.eval_context(), "start")
        last: dict[str, float] = {}
        log = StepLog(cfg.run, self.run_dir, self.diagnostics, acc, start=self.step)
        with StopOnInterrupt(say=acc.print) as interrupt, log:
            while self.step < cfg.run.max_steps:
                last = self.train_step()
                self.step += 1
                log.log(self.step, last)  # records the step in last
                if cfg.eval.every and self.step % cfg.eval.every == 0 and self.step < cfg.run.max_steps:
                    evaluate_run(self.eval_context(), "train")
                if cfg.checkpoint.every and self.step % cfg.checkpoint.every == 0:
                    self.save_checkpoint()
                if interrupt.requested:
                    interrupt.stopped(self.step, self.save_checkpoint(), self.out)
                    return last
        if cfg.checkpoint.every:
            self.save_checkpoint()  # with the optimizer state, which the end evaluation and saving do not need:
        self.update.release_optimizer_state()  # freed, they run in less memory
        if cfg.eval.at_end and self.eval_examples:
            evaluate_run(self.eval_context(), "end")
        if cfg.checkpoint.save_model:
            self.save_model()
        if cfg.run.report_to:
            acc.end_training()
        return last

    def write_report(self) -> Path | None:
        """Write ``report.md`` with curves into the run directory (main process)."""
        if not self.accelerator.is_main_process:
            return None
        return write_report(self.out, say=self.accelerator.print)
