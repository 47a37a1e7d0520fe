"""Live diagnostics: one-line warnings, with advice, when the step metrics say GRPO is not learning or is unstable.

GRPO's loss says little (it starts near 0 by construction: advantages have zero mean within a group, and with
ratio = 1 the loss is -mean(A)); these checks watch the metrics that do explain a run (names as in ``metrics.jsonl``):

- ``zero_variance``: ``zero_variance_frac`` > 0.8 for ``window`` steps in a row: most groups have all-equal rewards,
  so zero advantages and no gradient (DeepSeekMath arXiv:2402.03300 sec. 4.1.2; DAPO arXiv:2503.14476 sec. 3.2).
- ``entropy_collapse``: mean ``entropy`` over the last ``window`` steps below 0.05 nats, or below 10% of its mean over
  the first ``window`` steps (DAPO sec. 3.1 on entropy collapse).
- ``truncation``: ``truncated_rate`` > 0.5 for ``window`` steps in a row.
- ``kl_spike`` / ``grad_norm_spike``: ``kl`` or ``grad_norm`` above 10x the median of its recent positive values
  (needs ``window`` of them) and above an absolute floor. Zero values (steps without signal) stay out of the median.
- ``reward_hacking``: train ``reward`` rose over the last ``window`` steps (least-squares rise >= ``reward_rise``)
  while ``eval/accuracy`` was flat or down over the last two evaluations.

Each kind warns at most once every ``every`` steps. Missing or NaN metrics are skipped. The thresholds are ours
(rules of thumb), not from a paper.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from pathlib import Path
from typing import Any

from minirl.diagnostics.advice import (
    RunSettings,
    entropy_advice,
    hacking_advice,
    join,
    no_signal_advice,
    spike_advice,
    truncation_advice,
)

KINDS = ("zero_variance", "entropy_collapse", "truncation", "kl_spike", "grad_norm_spike", "reward_hacking")


def _num(metrics: dict[str, Any], key: str) -> float | None:
    """``metrics[key]`` as a finite float, or None when missing, not a number, NaN or inf."""
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:  # 0-d tensors and numpy scalars
            value = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    value = float(value)
    return value if math.isfinite(value) else None


def _rise(points: deque[tuple[int, float]]) -> float:
    """Least-squares slope of ``(step, value)`` points times their step span: the trend's total change."""
    xs = [float(s) for s, _ in points]
    ys = [v for _, v in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return 0.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var
    return slope * (xs[-1] - xs[0])


class LiveDiagnostics:
    """Watch step metrics and return rate-limited one-line warnings with advice.

    Args:
        cfg: the run's :class:`~minirl.config.TrainConfig` (None: advice names flags without values).
        window: K, the steps a condition must last, and the length of trends and baselines.
        every: a warning kind repeats at most once per this many steps.
        rewards: reward name -> weight actually used (default ``cfg.grpo.rewards``); tailors the advice.
        zero_var_threshold, truncated_threshold: limits for ``zero_variance_frac`` and ``truncated_rate``.
        entropy_floor, entropy_drop: absolute entropy floor, and the share of the early entropy that counts as collapse.
        spike_factor, kl_floor, grad_norm_floor: a spike is > factor x recent median and > the floor.
        reward_rise: minimum rise of the train reward over ``window`` steps for the reward-hacking check.
        eval_tolerance: ``eval/accuracy`` changes up to this are "flat".
        history: how many recent values the spike medians use.
        log_path: append every warning to this file (see :meth:`write_to`).

    >>> diag = LiveDiagnostics(window=2)
    >>> diag.update(1, {"zero_variance_frac": 1.0})
    []
    >>> warnings = diag.update(2, {"zero_variance_frac": 1.0, "kl": float("nan")})
    >>> len(warnings), "zero reward variance" in warnings[0]
    (1, True)
    >>> diag.update(3, {"zero_variance_frac": 1.0})  # rate-limited
    []
    """

    def __init__(
        self,
        cfg: Any = None,
        window: int = 5,
        every: int = 20,
        *,
        rewards: dict[str, float] | None = None,
        zero_var_threshold: float = 0.8,
        truncated_threshold: float = 0.5,
        entropy_floor: float = 0.05,
        entropy_drop: float = 0.1,
        spike_factor: float = 10.0,
        kl_floor: float = 0.1,
        grad_norm_floor: float = 1.0,
        reward_rise: float = 0.1,
        eval_tolerance: float = 0.01,
        history: int = 50,
        log_path: str | Path | None = None,
    ):
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ValueError(f"LiveDiagnostics: window must be an integer >= 2, got {window!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"LiveDiagnostics: every must be an integer >= 1, got {every!r}")
        if history < window:
            raise ValueError(f"LiveDiagnostics: history ({history}) must be >= window ({window})")
        self.settings = RunSettings.from_config(cfg, rewards=rewards)
        self.window, self.every = window, every
        self.zero_var_threshold, self.truncated_threshold = zero_var_threshold, truncated_threshold
        self.entropy_floor, self.entropy_drop = entropy_floor, entropy_drop
        self.spike_factor, self.kl_floor, self.grad_norm_floor = spike_factor, kl_floor, grad_norm_floor
        self.reward_rise, self.eval_tolerance = reward_rise, eval_tolerance
        self.log_path: Path | None = None
        self.warnings: list[tuple[int, str, str]] = []
        """Every warning given: ``(step, kind, line)``."""
        self._streak = {"zero_variance": 0, "truncation": 0}
        self._entropy_early: list[float] = []
        self._entropy: deque[float] = deque(maxlen=window)
        self._spikes = {"kl": deque(maxlen=history), "grad_norm": deque(maxlen=history)}
        self._reward: deque[tuple[int, float]] = deque(maxlen=window)
        self._parts: dict[str, deque[tuple[int, float]]] = {}
        self._evals: deque[tuple[int, float]] = deque(maxlen=2)
        self._last_fired: dict[str, int] = {}
        if log_path is not None:
            self.write_to(log_path)

    def write_to(self, path: str | Path) -> None:
        """Append every later warning to ``path`` (the trainer passes ``<run_dir>/diagnostics.log``)."""
        self.log_path = Path(path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

    # ----------------------------------------------------------------------------------------------------------------
    def update(self, step: int, metrics: dict[str, Any]) -> list[str]:
        """Feed one training step's metrics; returns the warnings (one line each) this step raised."""
        out: list[str] = []
        self._check_streak(
            "zero_variance", step, _num(metrics, "zero_variance_frac"), self.zero_var_threshold, metrics, out
        )
        self._check_streak(
            "truncation", step, _num(metrics, "truncated_rate"), self.truncated_threshold, metrics, out
        )
        self._check_entropy(step, _num(metrics, "entropy"), out)
        self._check_spike("kl", step, _num(metrics, "kl"), self.kl_floor, out)
        self._check_spike("grad_norm", step, _num(metrics, "grad_norm"), self.grad_norm_floor, out)
        reward = _num(metrics, "reward")
        if reward is not None:
            self._reward.append((step, reward))
        for key in metrics:  # per-reward means, to say which reward drives a rise
            if key.startswith("rewards/") and key.endswith("/mean") and (v := _num(metrics, key)) is not None:
                self._parts.setdefault(
                    key[len("rewards/") : -len("/mean")], deque(maxlen=self.window)
                ).append((step, v))
        self._check_hacking(step, out)
        return out

    def update_eval(self, step: int, eval_metrics: dict[str, Any]) -> list[str]:
        """Feed an evaluation's metrics (``eval/accuracy`` is used); returns the warnings it raised."""
        out: list[str] = []
        accuracy = _num(eval_metrics, "eval/accuracy")
        if accuracy is not None:
            self._evals.append((step, accuracy))
            self._check_hacking(step, out)
        return out

    # ----------------------------------------------------------------------------------------------------------------
    def _fire(self, kind: str, step: int, text: str, out: list[str]) -> None:
        last = self._last_fired.get(kind)
        if last is not None and step - last < self.every:
            return
        self._last_fired[kind] = step
        line = f"[minirl] diagnostics, step {step}: {text}"
        self.warnings.append((step, kind, line))
        out.append(line)
        if self.log_path is not None:
            with open(self.log_path, "a") as f:
                f.write(line + "\n")

    def _check_streak(
        self, kind: str, step: int, value: float | None, limit: float, metrics: dict[str, Any], out: list[str]
    ) -> None:
        if value is None:
            return  # missing: neither extends nor breaks the streak
        self._streak[kind] = self._streak[kind] + 1 if value > limit else 0
        n = self._streak[kind]
        if n < self.window:
            return
        if kind == "zero_variance":
            problem = (
                f"{value:.0%} of groups have zero reward variance (all-equal rewards, so zero advantages) "
                f"for {n} steps in a row: GRPO is learning (almost) nothing"
            )
            advice = no_signal_advice(
                self.settings,
                format_rate=_num(metrics, "format_rate"),
                accuracy=_num(metrics, "accuracy"),
                truncated_rate=_num(metrics, "truncated_rate"),
            )
        else:
            cap = self.settings.max_new_tokens
            problem = (
                f"{value:.0%} of completions hit the {f'{cap}-token ' if cap else ''}length cap for {n} steps "
                "in a row: cut completions rarely reach </answer> and score 0"
            )
            advice = truncation_advice(self.settings)
        self._fire(kind, step, join(problem, advice), out)

    def _check_entropy(self, step: int, value: float | None, out: list[str]) -> None:
        if value is None:
            return
        if len(self._entropy_early) < self.window:
            self._entropy_early.append(value)
        self._entropy.append(value)
        if len(self._entropy) < self.window:
            return
        recent = sum(self._entropy) / len(self._entropy)
        early = sum(self._entropy_early) / len(self._entropy_early)
        if recent < self.entropy_floor:
            why = f"below {self.entropy_floor:g}"
        elif recent < self.entropy_drop * early:
            why = f"{recent / early:.0%} of its early {early:.3g}"
        else:
            return
        problem = (
            f"entropy collapsed: {recent:.3g} nats/token over the last {self.window} steps ({why}); "
            "completions of a group become identical, so rewards stop differing"
        )
        self._fire("entropy_collapse", step, join(problem, entropy_advice(self.settings)), out)

    def _check_spike(self, key: str, step: int, value: float | None, floor: float, out: list[str]) -> None:
        if value is None:
            return
        past = self._spikes[key]
        if len(past) >= self.window:
            median = statistics.median(past)
            if value > self.spike_factor * median and value > floor:
                name = "KL to the reference" if key == "kl" else "gradient norm"
                problem = (
                    f"{name} spiked to {value:.3g}, {value / median:.0f}x its recent median {median:.3g}"
                )
                self._fire(f"{key}_spike", step, join(problem, spike_advice(self.settings, key)), out)
        if value > 0:  # zero KL / grad (no signal) would drag the median to 0 and make every step a "spike"
            past.append(value)

    def _check_hacking(self, step: int, out: list[str]) -> None:
        if len(self._evals) < 2 or len(self._reward) < self.window:
            return
        rise = _rise(self._reward)
        (s1, a1), (s2, a2) = self._evals
        if rise < self.reward_rise or a2 - a1 > self.eval_tolerance:
            return
        weights = self.settings.rewards
        rises = {
            name: _rise(pts) * weights.get(name, 1.0) for name, pts in self._parts.items() if len(pts) >= 2
        }
        top = max(rises, key=lambda n: rises[n]) if rises and max(rises.values()) > 0 else None
        problem = (
            f"train reward rose {rise:+.2f} over the last {len(self._reward)} steps, but held-out accuracy "
            f"went {a1:.0%} -> {a2:.0%} between the evals at steps {s1} and {s2}: the policy may be gaming "
            "a reward instead of solving the task"
        )
        self._fire("reward_hacking", step, join(problem, hacking_advice(self.settings, top)), out)
