"""Preflight on the tiny model (stops on a constant reward, passes a varying one) and the live warnings."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch

from minirl.config import TrainConfig
from minirl.diagnostics import (
    KINDS,
    LiveDiagnostics,
    PreflightFailed,
    PreflightReport,
    RewardSummary,
    check_preflight,
    run_preflight,
)
from minirl.diagnostics.advice import (
    RunSettings,
    entropy_advice,
    no_signal_advice,
    no_tag_advice,
    spike_advice,
    truncation_advice,
)
from minirl.trainer.loop import GRPOTrainer

DEFAULT_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "r1_zero_smollm2_cpu.yaml"


def const_reward(completions, **kwargs):
    return [1.0] * len(completions)


def hash_reward(completions, **kwargs):
    """A reward that differs between different texts: the first byte of the text's hash, in [0, 1]."""
    return [hashlib.sha256(c.encode()).digest()[0] / 255 for c in completions]


def make_trainer(tmp_path, model, tokenizer, reward, **cfg_changes):
    cfg = TrainConfig()
    cfg.run.output_dir = str(tmp_path)
    cfg.rollout.num_generations = 4
    cfg.rollout.max_new_tokens = 8
    cfg.data.task = "arithmetic"
    cfg.data.eval_size = 0
    for key, value in cfg_changes.items():
        section, name = key.split("__")
        setattr(getattr(cfg, section), name, value)
    return GRPOTrainer(cfg, model=model, tokenizer=tokenizer, reward_spec=[(reward.__name__, reward, 1.0)])


# ---------------------------------------------------------------------------------------------------------- preflight
def test_preflight_stops_on_a_constant_reward(tmp_path, tiny_model, tiny_tokenizer, capsys):
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer, const_reward)
    with pytest.raises(PreflightFailed) as info:
        check_preflight(trainer.preflight_inputs(), force=False, num_prompts=2)
    report = info.value.report
    assert not report.ok
    assert report.zero_variance_frac == 1.0
    assert report.rewards[0].name == "const_reward" and report.rewards[0].mean == 1.0
    assert report.rewards[0].positive_rate == 1.0 and report.rewards[0].zero_variance_frac == 1.0
    assert report.num_prompts == 2 and report.num_generations == 4 and len(report.samples) == 2
    message = str(info.value)
    assert "--run.preflight_force true" in message and "--run.preflight false" in message
    printed = capsys.readouterr().out
    assert "zero-var" in printed and "STOP" in printed and "Try:" in printed
    saved = json.loads((tmp_path / "preflight.json").read_text())
    assert saved["ok"] is False and saved["rewards"][0]["name"] == "const_reward"


def test_preflight_force_goes_on(tmp_path, tiny_model, tiny_tokenizer):
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer, const_reward)
    report = check_preflight(trainer.preflight_inputs(), force=True, num_prompts=1)
    assert not report.ok


def none_reward(completions, **kwargs):
    return [None] * len(completions)


def strict_json(text: str):
    """``json.loads`` that refuses ``NaN`` / ``Infinity`` (Python accepts them; JSON and other readers do not)."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_preflight_json_writes_nan_as_null(tmp_path, tiny_model, tiny_tokenizer):
    """A reward that scores no sample has a NaN mean: preflight.json must still be JSON (null, as metrics.jsonl)."""
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer, none_reward)
    report = check_preflight(trainer.preflight_inputs(), force=True, num_prompts=1)
    assert math.isnan(report.rewards[0].mean)
    saved = strict_json((tmp_path / "preflight.json").read_text())
    assert saved["rewards"][0]["name"] == "none_reward" and saved["rewards"][0]["mean"] is None


def test_preflight_passes_a_varying_reward_and_leaves_the_random_streams_alone(
    tmp_path, tiny_model, tiny_tokenizer
):
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer, hash_reward)
    trainer.model.train()
    gen_before, torch_before = trainer.generator.get_state(), torch.get_rng_state()
    report = check_preflight(trainer.preflight_inputs(), force=False, num_prompts=2)
    assert report.ok and report.zero_variance_frac == 0.0
    assert 0 < report.total_mean < 1 and report.distinct_rate == 1.0
    assert report.rewards[0].zero_variance_frac == 0.0
    assert torch.equal(trainer.generator.get_state(), gen_before)
    assert torch.equal(torch.get_rng_state(), torch_before)
    assert trainer.model.training  # mode restored
    assert "OK" in report.table()
    json.dumps(report.to_dict())  # JSON-ready


def test_preflight_reports_truncation_and_missing_tags(tmp_path, tiny_model, tiny_tokenizer):
    # A random tiny model writes bytes, no tags, and runs to the 8-token cap.
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer, const_reward, data__prefill_think=False)
    report = run_preflight(trainer.preflight_inputs(), num_prompts=1)
    assert report.tag_rate == 0.0 and report.format_rate == 0.0
    assert report.truncated_rate > 0.5
    assert 0 < report.length_mean <= 8
    advice = report.advice()
    assert "--rollout.max_new_tokens 16 (now 8)" in advice
    assert "--data.prefill_think true" in advice  # prefill is off in this run, so it is advised
    assert "--data.one_shot true" not in advice  # one-shot is already on


@pytest.mark.parametrize("num_prompts, threshold", [(0, 0.5), (2, 1.5), (True, 0.5)])
def test_preflight_rejects_bad_arguments(tmp_path, tiny_model, tiny_tokenizer, num_prompts, threshold):
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer, const_reward)
    with pytest.raises(ValueError, match="preflight"):
        run_preflight(trainer.preflight_inputs(), num_prompts=num_prompts, threshold=threshold)


def report(zero_var=1.0, accuracy=0.0, format_rate=0.0, tag_rate=1.0, truncated=0.0, distinct=1.0):
    """A hand-made preflight report (arithmetic, prefill and one-shot on, G = 8, cap 64)."""
    settings = RunSettings(
        task="arithmetic",
        prefill_think=True,
        one_shot=True,
        max_new_tokens=64,
        num_generations=8,
        temperature=0.7,
        rewards={"accuracy": 1.0, "format": 1.0},
    )
    return PreflightReport(
        num_prompts=4,
        num_generations=8,
        threshold=0.5,
        rewards=[RewardSummary("accuracy", 1.0, accuracy, accuracy, zero_var)],
        total_mean=accuracy,
        total_positive_rate=accuracy,
        zero_variance_frac=zero_var,
        length_mean=20.0,
        truncated_rate=truncated,
        format_rate=format_rate,
        accuracy=accuracy,
        tag_rate=tag_rate,
        distinct_rate=distinct,
        samples=["a", "b"],
        settings=settings,
    )


def test_report_advice_names_the_cause():
    solved = report(accuracy=1.0, format_rate=1.0)
    assert not solved.ok and "already right" in solved.advice() and "num_terms: 3" in solved.advice()
    same = report(distinct=0.0).advice()
    assert "identical" in same and "--rollout.temperature 0.9 (now 0.7)" in same
    no_tags = report(tag_rate=0.0, truncated=0.6).advice()
    assert no_tags.index("no completion contains") < no_tags.index("length cap")  # tags first: 40% did end
    assert "tag_count: 0.5" in no_tags and "--rollout.max_new_tokens 128" in no_tags
    all_cut = report(tag_rate=0.0, truncated=1.0).advice()
    assert all_cut.index("length cap") < all_cut.index("no completion contains")
    fine = report(zero_var=0.25, accuracy=0.4, format_rate=0.6)
    assert fine.ok and "nothing to fix" in fine.advice() and "75% of groups" in fine.advice()
    assert report(zero_var=0.5).ok and not report(zero_var=0.75).ok  # threshold 0.5 is inclusive


def test_advice_fits_what_was_seen():
    s = RunSettings(
        task="arithmetic",
        prefill_think=False,
        one_shot=False,
        max_new_tokens=64,
        num_generations=8,
        rewards={"accuracy": 1.0, "format": 1.0},
    )
    no_tags = " ".join(no_signal_advice(s, format_rate=0.0, accuracy=0.0, tag_rate=0.0))
    assert "--data.prefill_think true" in no_tags and "--data.one_shot true" in no_tags
    assert "tag_count: 0.5" in no_tags and "max_new_tokens" not in no_tags
    easy = " ".join(no_signal_advice(s, format_rate=1.0, accuracy=1.0, tag_rate=1.0))
    assert "too easy" in easy and "num_terms: 3" in easy and "prefill" not in easy
    cut = no_signal_advice(s, truncated_rate=1.0)
    assert cut[0] == "raise the completion limit: --rollout.max_new_tokens 128 (now 64)"


# --------------------------------------------------------------------------------------------------------------- live
def healthy(step: int) -> dict[str, float]:
    """A run that learns: some groups differ, entropy steady, KL and grad norm noisy but bounded."""
    wobble = 0.5 + 0.5 * math.sin(step)
    return {
        "reward": 0.5 + 0.01 * step,
        "zero_variance_frac": 0.25 + 0.3 * wobble,
        "entropy": 1.0 + 0.2 * wobble,
        "truncated_rate": 0.1,
        "kl": 0.01 * (1 + wobble),
        "grad_norm": 0.3 * (1 + 2 * wobble),
        "format_rate": 0.8,
        "accuracy": 0.3,
    }


def run_stream(diag: LiveDiagnostics, stream, evals=None) -> list[tuple[int, str]]:
    """Feed ``stream`` (step -> metrics) and ``evals`` (step -> eval metrics); returns (step, kind) fired."""
    evals = evals or {}
    for step in range(1, 61):
        diag.update(step, stream(step))
        if step in evals:
            diag.update_eval(step, evals[step])
    return [(step, kind) for step, kind, _ in diag.warnings]


def test_live_is_quiet_on_a_healthy_run():
    evals = {s: {"eval/accuracy": 0.2 + 0.005 * s} for s in (10, 20, 30, 40, 50, 60)}
    assert run_stream(LiveDiagnostics(), healthy, evals) == []


def test_live_skips_missing_and_nan_metrics():
    diag = LiveDiagnostics(window=2)
    for step in range(1, 30):
        assert (
            diag.update(step, {"reward": float("nan"), "kl": None, "grad_norm": "n/a", "entropy": math.inf})
            == []
        )
    assert diag.update_eval(30, {}) == [] and diag.update_eval(31, {"eval/accuracy": float("nan")}) == []


@pytest.mark.parametrize(
    "kind, change",
    [
        ("zero_variance", lambda s, m: {**m, "zero_variance_frac": 0.9, "format_rate": 0.0} if s > 30 else m),
        ("entropy_collapse", lambda s, m: {**m, "entropy": 0.03} if s > 30 else m),
        ("truncation", lambda s, m: {**m, "truncated_rate": 0.8} if s > 30 else m),
        ("kl_spike", lambda s, m: {**m, "kl": 5.0} if s == 40 else m),
        ("grad_norm_spike", lambda s, m: {**m, "grad_norm": 50.0} if s == 40 else m),
    ],
)
def test_each_live_warning_fires_and_is_rate_limited(kind, change, tmp_path):
    diag = LiveDiagnostics(window=5, every=20)
    diag.write_to(tmp_path / "diagnostics.log")
    fired = run_stream(diag, lambda s: change(s, healthy(s)))
    assert {k for _, k in fired} == {kind}, fired
    steps = [s for s, _ in fired]
    assert steps[0] >= 31 and all(b - a >= 20 for a, b in zip(steps, steps[1:])), steps
    if kind in (
        "zero_variance",
        "truncation",
        "entropy_collapse",
    ):  # lasting conditions repeat, at most every 20
        assert steps[0] == 35 and len(steps) == 2, steps
    log = (tmp_path / "diagnostics.log").read_text().splitlines()
    assert len(log) == len(fired) and all(line.startswith("[minirl] diagnostics, step") for line in log)
    assert all("Try:" in line and "\n" not in line for _, _, line in diag.warnings)


def test_entropy_collapse_relative_to_its_early_value():
    diag = LiveDiagnostics(window=3)
    for step in range(1, 10):
        diag.update(step, {"entropy": 2.0 if step <= 3 else 0.1})  # 5% of 2.0, above the absolute 0.05 floor
    assert [k for _, k, _ in diag.warnings] == ["entropy_collapse"]
    assert "5% of its early 2" in diag.warnings[0][2]


def test_zero_variance_advice_uses_the_run_config():
    cfg = TrainConfig()
    cfg.data.prefill_think = False
    diag = LiveDiagnostics(cfg, window=2, rewards={"accuracy": 1.0, "format": 1.0})
    diag.update(1, {"zero_variance_frac": 1.0, "format_rate": 0.0})
    (line,) = diag.update(2, {"zero_variance_frac": 1.0, "format_rate": 0.0})
    assert "--data.prefill_think true" in line


def test_reward_hacking_fires_when_reward_rises_but_eval_accuracy_does_not():
    def stream(step):
        m = healthy(step)
        m["reward"] = 0.5 + 0.05 * step
        m["rewards/accuracy/mean"], m["rewards/repeat_me/mean"] = 0.3, 0.05 * step
        return m

    flat = {20: {"eval/accuracy": 0.30}, 40: {"eval/accuracy": 0.29}}
    fired = run_stream(LiveDiagnostics(), stream, flat)
    assert [k for _, k in fired] == ["reward_hacking", "reward_hacking"] and fired[0][0] == 40, fired
    diag = LiveDiagnostics()
    run_stream(diag, stream, flat)
    assert "'repeat_me'" in diag.warnings[0][2] and "30% -> 29%" in diag.warnings[0][2]
    rising = {20: {"eval/accuracy": 0.30}, 40: {"eval/accuracy": 0.45}}
    assert run_stream(LiveDiagnostics(), stream, rising) == []


def test_live_rejects_bad_arguments():
    with pytest.raises(ValueError, match="window"):
        LiveDiagnostics(window=1)
    with pytest.raises(ValueError, match="every"):
        LiveDiagnostics(every=0)
    assert set(KINDS) == {
        "zero_variance",
        "entropy_collapse",
        "truncation",
        "kl_spike",
        "grad_norm_spike",
        "reward_hacking",
    }


def test_group_zero_variance_compares_scored_values_only():
    """Preflight's per-reward share uses minirl.grpo's zero-variance test; None/NaN values are left out."""
    from minirl.diagnostics.preflight import _group_zero_variance

    nan = float("nan")
    values = [1.0, 1.0, None, 0.0, None, None, nan, 0.5, 0.5 + 1e-7, 0.2, None, 0.3]  # G = 3: four groups
    # groups: {1, 1} constant; {0} one scored value: constant; {0.5, 0.5+1e-7} within tol; {0.2, 0.3} differ
    assert _group_zero_variance(values, 3) == 0.75
    assert _group_zero_variance([None] * 4, 2) == 1.0 and _group_zero_variance([], 2) == 0.0


# --- every piece of advice fits the run: it appears where it would act and not where it would not -------------
ADVICE_CASES = [
    # (advice function, text it contains, settings where it acts, settings where it cannot)
    (
        entropy_advice,
        "epsilon_high 0.28",
        {"num_iterations": 2, "num_minibatches": 1, "epsilon_high": 0.2},
        {"num_iterations": 1, "num_minibatches": 1, "epsilon_high": 0.2},
    ),
    (
        entropy_advice,
        "epsilon_high 0.28",
        {"num_iterations": 1, "num_minibatches": 2, "epsilon_high": 0.2},
        {"num_iterations": 1, "num_minibatches": 2, "epsilon_high": 0.28},
    ),
    (
        entropy_advice,
        "acts only with more than one update",
        {"num_iterations": 1, "num_minibatches": 1},
        {"num_iterations": 2, "num_minibatches": 1},
    ),
    (entropy_advice, "--model.lora true", {"lora": False}, {"lora": True}),
    (entropy_advice, "--rollout.temperature 0.7", {"temperature": 0.5}, {"temperature": 1.0}),
    (entropy_advice, "--grpo.beta", {"beta": 0.0}, {"beta": 0.04}),
    (
        lambda s: spike_advice(s, "kl"),
        "--optim.max_grad_norm",
        {"max_grad_norm": 0.0},
        {"max_grad_norm": 1.0},
    ),
    (lambda s: spike_advice(s, "kl"), "--optim.warmup_steps", {"warmup_steps": 0}, {"warmup_steps": 10}),
    (
        lambda s: spike_advice(s, "kl"),
        "--grpo.num_iterations 1",
        {"num_iterations": 2},
        {"num_iterations": 1},
    ),
    (lambda s: spike_advice(s, "kl"), "--model.dtype fp32", {"dtype": "bf16"}, {"dtype": "fp32"}),
    (truncation_advice, "stop_at_answer", {"stop_at_answer": False}, {"stop_at_answer": True}),
    (no_tag_advice, "prefill_think", {"prefill_think": False}, {"prefill_think": True}),
    (no_tag_advice, "one_shot", {"one_shot": False}, {"one_shot": True}),
    (
        no_tag_advice,
        "tag_count",
        {"rewards": {"format": 1.0}},
        {"rewards": {"format": 1.0, "tag_count": 0.5}},
    ),
    (lambda s: no_signal_advice(s), "--rollout.temperature 0.9", {"temperature": 0.7}, {"temperature": 1.0}),
]


@pytest.mark.parametrize("fn, text, acts, cannot", ADVICE_CASES)
def test_each_piece_of_advice_appears_only_where_it_can_act(fn, text, acts, cannot):
    base = {"lr": 3e-5, "prefill_think": True, "one_shot": True, "template": "r1_zero", "beta": 0.04}
    assert any(text in line for line in fn(RunSettings(**{**base, **acts}))), acts
    assert not any(text in line for line in fn(RunSettings(**{**base, **cannot}))), cannot


def test_entropy_warning_of_the_default_run_fits_it():
    """The default recipe (one update per rollout batch) is not told to raise epsilon_high."""
    from minirl.config_parse import parse_args

    settings = RunSettings.from_config(parse_args([], default_config=DEFAULT_RECIPE))
    assert not any("epsilon_high 0.28" in line for line in entropy_advice(settings))
