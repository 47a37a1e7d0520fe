"""A run's outputs: its directory (config.yaml, metrics.jsonl, samples.jsonl, diagnostics.log, eval/), the held-out
evaluations written there, each step's log (:class:`StepLog`: the record, the live warnings, the progress bar)
and the one-line progress summary on the console.

Only the main process writes. A fresh run refuses a directory that already holds one (unless ``run.overwrite``);
a resumed run first drops the log records it is about to write again (``minirl.trainer.runlogs``).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from minirl.config import EvalConfig, RunConfig
from minirl.config_checks import TRANSFER_SIZE
from minirl.diagnostics import LiveDiagnostics
from minirl.eval.runner import evaluate_examples
from minirl.files import dumps
from minirl.memory import PeakMemory
from minirl.tasks import Example, PromptStyle, Task, get_task
from minirl.trainer import runlogs


class RunDir:
    """The run directory ``out`` of a process; every write is a no-op on other processes than the main one.

    >>> import tempfile
    >>> d = RunDir(tempfile.mkdtemp(), is_main=True)
    >>> d.write("metrics.jsonl", {"step": 1, "x": float("nan")})
    >>> (d.out / "metrics.jsonl").read_text()
    '{"step": 1, "x": null}\\n'
    """

    def __init__(self, out: str | Path, is_main: bool = True):
        self.out = Path(out)
        self.is_main = is_main
        if is_main:
            self.out.mkdir(parents=True, exist_ok=True)

    def prepare(self, cfg, step: int, restart: bool = False) -> None:
        """Before the first step: check or clean the logs, and write ``config.yaml``.

        Args:
            cfg: the run's config (``run.overwrite`` and ``run.max_steps`` are read; it is saved as YAML).
            step: the step the run starts from (0, or the resumed checkpoint's).
            restart: ``--checkpoint.resume latest`` found no checkpoint: replace the old logs.
        """
        if not self.is_main:
            return
        logs = [self.out / name for name in runlogs.LOGS]
        if step == 0 and any(p.exists() for p in logs):
            if not (cfg.run.overwrite or restart):
                raise FileExistsError(
                    f"{self.out} already holds a run (metrics.jsonl). Continue it with --checkpoint.resume latest, "
                    f"pick another --run.output_dir, or replace it with --run.overwrite true."
                )
            for p in logs:
                p.unlink(missing_ok=True)
        if step > 0:
            runlogs.truncate_for_resume(self.out, step, cfg.run.max_steps)
        cfg.save(self.out / "config.yaml")

    def write(self, name: str, record: dict) -> None:
        """Append one JSON record (NaN/inf as null) to ``name``."""
        if self.is_main:
            with open(self.out / name, "a") as f:
                f.write(dumps(record, default=float) + "\n")

    def live_diagnostics(self, cfg, rewards: list[str], weights: list[float]) -> LiveDiagnostics:
        """The run's live diagnostics (of ``cfg`` and the trained ``rewards`` with their ``weights``), whose warnings
        the main process also writes to ``diagnostics.log``."""
        diagnostics = LiveDiagnostics(cfg, rewards=dict(zip(rewards, weights)))
        if self.is_main:
            diagnostics.write_to(self.out / "diagnostics.log")
        return diagnostics

    def write_samples(
        self, step: int, every: int, examples: list, roll, total: torch.Tensor, n: int = 2
    ) -> None:
        """At the steps :func:`samples_due` picks (``every``: ``run.sample_every``), the first 4 completions and
        rewards of the first ``n`` groups of a rollout, to ``samples.jsonl``."""
        if not samples_due(step, every):
            return
        g = roll.num_generations
        for i in range(min(n, len(examples))):
            self.write(
                "samples.jsonl",
                {
                    "step": step,
                    "question": examples[i].question,
                    "answer": examples[i].answer,
                    "completions": roll.texts[i * g : (i + 1) * g][:4],
                    "rewards": [float(x) for x in total[i * g : (i + 1) * g][:4]],
                },
            )


def samples_due(step: int, every: int) -> bool:
    """Whether the step of index ``step`` (from 0) writes samples: the first and every ``every``-th (0: none).

    >>> [s for s in range(25) if samples_due(s, 10)], samples_due(0, 0)
    ([0, 9, 19], False)
    """
    return bool(every) and (step == 0 or (step + 1) % every == 0)


class StepLog:
    """Each training step's log: the live diagnostics' warnings, the ``metrics.jsonl`` record and the trackers' (every
    ``run.log_every`` steps and at the last step), and the progress bar (main process). A context manager: the bar
    is closed on leaving.

    Args:
        run: the run's settings (``max_steps``, ``log_every``, ``report_to`` are read).
        run_dir: where the records are written.
        diagnostics: the run's live diagnostics, told every step's metrics.
        accelerator: the run's ``accelerate.Accelerator`` (its main process shows the bar; it logs to the trackers).
        start: the step the run starts from (0, or the resumed checkpoint's).
    """

    def __init__(
        self, run: RunConfig, run_dir: RunDir, diagnostics: LiveDiagnostics, accelerator, start: int
    ):
        self.run, self.run_dir, self.diagnostics, self.accelerator = run, run_dir, diagnostics, accelerator
        self.bar = tqdm(
            total=run.max_steps,
            initial=start,
            desc="GRPO",
            disable=not accelerator.is_main_process,
            dynamic_ncols=True,
            file=sys.stdout,
        )

    def __enter__(self) -> StepLog:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Log the metrics of step ``step`` (counted from 1), recording the step in them as ``metrics["step"]``."""
        metrics["step"] = step
        acc = self.accelerator
        for line in self.diagnostics.update(step, metrics):
            if acc.is_main_process:
                self.bar.write(line)
        if step % self.run.log_every == 0 or step == self.run.max_steps:
            self.run_dir.write("metrics.jsonl", {"type": "train", **metrics})
            if self.run.report_to:
                acc.log(metrics, step=step)
        self.bar.set_postfix_str(progress_line(metrics), refresh=False)
        self.bar.update(1)


@dataclass(frozen=True)
class EvalContext:
    """What :func:`evaluate_run` reads of a run at one evaluation; ``GRPOTrainer.eval_context()`` builds it."""

    model: Any
    """The training model, possibly wrapped by accelerate: put in eval mode before evaluating."""
    policy: Any
    """The same model without the wrapper (a ``transformers`` or peft model): the one that generates."""
    tokenizer: Any
    style: PromptStyle
    """The run's prompt template."""
    task: Task
    """The trained task."""
    examples: list[Example]
    """Its held-out problems (empty: no evaluation)."""
    transfer: dict[str, tuple[Task, list[Example]]]
    """``eval.transfer``'s ``{name: (task, examples)}`` (:func:`transfer_sets`), evaluated at start and end."""
    settings: EvalConfig
    """The run's ``eval`` section (``k``, ``temperature``, ``batch_size``, ``no_reasoning`` are read)."""
    max_new_tokens: int
    """The completion cap (:attr:`~minirl.config.TrainConfig.eval_max_new_tokens`)."""
    language: str
    """The run's target language (``data.language``)."""
    step: int
    """The step the policy has reached."""
    accelerator: Any
    """The run's ``accelerate.Accelerator`` (its main process evaluates and prints)."""
    run_dir: RunDir
    """Where the records and the saved evaluations go."""
    diagnostics: LiveDiagnostics
    """The run's live diagnostics, told each evaluation's record."""


def evaluate_run(ctx: EvalContext, when: str):
    """Evaluate ``ctx.policy`` on the run's held-out problems (``eval.*`` settings) and log it to the run.

    ``when`` is ``"start"`` (its records saved to ``eval/start/``), ``"train"`` (every ``eval.every`` steps) or
    ``"end"`` (saved to ``eval/``).
    Returns the :class:`~minirl.eval.runner.EvalResult` on the main process, else None.
    """
    if not ctx.examples:
        return None

    acc = ctx.accelerator
    ctx.model.eval()
    result = None
    if acc.is_main_process:
        # the evaluation's own peak: it runs outside the steps' phases
        peaks = PeakMemory(next(ctx.policy.parameters()).device)
        with peaks.phase("evaluation"):
            result = _evaluate(
                ctx,
                ctx.task,
                ctx.examples,
                k=ctx.settings.k,
                temperature=ctx.settings.temperature,
                desc=f"held-out eval ({when}, step {ctx.step})",
            )
            record = {
                "type": "eval",
                "step": ctx.step,
                "when": when,
                **{f"eval/{k}": v for k, v in result.flat().items()},
                "eval/accuracy": result.metrics["pass@1"].value,
            }
            if when in ("start", "end"):
                record.update(_evaluate_transfer(ctx, when))
                if ctx.settings.no_reasoning:
                    record.update(_evaluate_without_reasoning(ctx, when, result))
        record.update(peaks.metrics(peak=False))
        ctx.run_dir.write("metrics.jsonl", record)
        for line in ctx.diagnostics.update_eval(ctx.step, record):
            acc.print(line)
        if when in ("start", "end"):
            result.save(saved_eval_dir(ctx.run_dir.out, when))
        acc.print(f"[minirl] eval ({when}, step {ctx.step}): " + result.summary_line())
    acc.wait_for_everyone()
    return result


def saved_eval_dir(out: Path, when: str) -> Path:
    """Where the evaluation ``when`` (``start`` or ``end``) of the run in ``out`` saves its records.

    >>> saved_eval_dir(Path("runs/x"), "end"), saved_eval_dir(Path("runs/x"), "start")
    (PosixPath('runs/x/eval'), PosixPath('runs/x/eval/start'))
    """
    return out / "eval" if when == "end" else out / "eval" / when


def transfer_sets(cfg, seed: int) -> dict[str, tuple]:
    """``{name: (task, examples)}`` of ``eval.transfer``: the first ``size`` distinct test problems of each task (all
    of them when its test split has fewer).

    Built when the trainer starts, so that a bad task name or setting fails before any training.

    >>> from minirl.config import TrainConfig, EvalConfig
    >>> cfg = TrainConfig(eval=EvalConfig(transfer={"sub": {"task": "arithmetic", "task_args": {"ops": "-"}}}))
    >>> task, examples = transfer_sets(cfg, seed=0)["sub"]
    >>> len(examples), examples[0].question.count("-")  # 1-digit subtraction has only 16 held-out problems
    (16, 1)
    """
    out = {}
    for name, spec in cfg.eval.transfer.items():
        try:
            task = get_task(spec["task"], **spec.get("task_args", {}))
        except (TypeError, ValueError) as err:
            raise ValueError(f"eval.transfer.{name}: {err}") from None
        out[name] = (task, task.examples("test", seed=seed)[: spec.get("size", TRANSFER_SIZE)])
    return out


def _evaluate_transfer(ctx: EvalContext, when: str) -> dict[str, float]:
    """Greedy pass@1 and format rate (with intervals) on each ``eval.transfer`` task, as ``transfer/<name>/...``."""
    out = {}
    for name, (task, examples) in ctx.transfer.items():
        result = _evaluate(ctx, task, examples, desc=f"transfer eval {name} ({when})")
        for metric in ("pass@1", "format_rate"):
            est = result.metrics[metric]
            out.update(
                {
                    f"transfer/{name}/{metric}{end}": v
                    for end, v in (("", est.value), ("_low", est.low), ("_high", est.high))
                }
            )
        out[f"transfer/{name}/n_problems"] = float(len(examples))
        if when in ("start", "end"):
            result.save(saved_eval_dir(ctx.run_dir.out, when) / "transfer" / name)
        ctx.accelerator.print(f"[minirl] eval ({when}) of {name}, not trained on: {result.metrics['pass@1']}")
    return out


def _evaluate_without_reasoning(ctx: EvalContext, when: str, with_reasoning) -> dict[str, float]:
    """The reasoning ablation (``eval.no_reasoning``): greedy pass@1 on the held-out problems with the answer forced
    right after the prompt, as ``no_reasoning/pass@1`` (with its interval), and ``no_reasoning/drop``, the accuracy
    with reasoning minus without (``with_reasoning``: this evaluation's result)."""
    result = _evaluate(
        ctx,
        ctx.task,
        ctx.examples,
        desc=f"held-out eval without reasoning ({when})",
        reasoning=False,
    )
    est = result.metrics["pass@1"]
    result.save(saved_eval_dir(ctx.run_dir.out, when) / "no_reasoning")
    drop = with_reasoning.metrics["pass@1"].value - est.value
    ctx.accelerator.print(f"[minirl] eval ({when}) without reasoning: {est}; drop {drop:+.3f}")
    return {
        "no_reasoning/pass@1": est.value,
        "no_reasoning/pass@1_low": est.low,
        "no_reasoning/pass@1_high": est.high,
        "no_reasoning/drop": drop,
    }


def progress_line(m: dict[str, float]) -> str:
    """The numbers that explain a GRPO step (not its loss, which is ~0 by construction).

    >>> progress_line({"reward": 1.5, "rewards/format/mean": 1.0, "zero_variance_frac": 0.5})
    'reward 1.50 (format 1.00) | zero-var 0.50'
    """
    per_reward = [
        f"{key[len('rewards/') : -len('/mean')]} {value:.2f}"
        for key, value in m.items()
        if key.startswith("rewards/") and key.endswith("/mean") and not math.isnan(value)
    ]
    parts = [
        f"reward {m.get('reward', float('nan')):.2f}" + (f" ({', '.join(per_reward)})" if per_reward else "")
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


def _evaluate(ctx: EvalContext, task, examples, **settings):
    """``evaluate_examples`` of the run's policy in its prompt style, with the run's evaluation settings (cap,
    batch, language); ``settings`` adds or overrides (``k``, ``temperature``, ``desc``, ``reasoning``)."""
    run_settings = {
        "max_new_tokens": ctx.max_new_tokens,
        "batch_size": ctx.settings.batch_size,
        "language": ctx.language,
    }
    return evaluate_examples(
        ctx.policy, ctx.tokenizer, task, examples, ctx.style, **{**run_settings, **settings}
    )
