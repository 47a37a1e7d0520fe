"""The reasoning work's mechanisms on the tiny model: several worked examples in the prompt, the classifier of ways of
reasoning, their shares and accuracies in evaluation and training logs, the reasoning ablation, mixed term counts."""

from __future__ import annotations

import json

import pytest

from minirl.config import DataConfig, RunConfig, TrainConfig
from minirl.config_checks import ConfigError
from minirl.eval.__main__ import main as eval_main
from minirl.eval.runner import evaluate_examples, summarize
from minirl.eval.ways import WAYS, count_equations, way_of_reasoning, way_shares
from minirl.tasks import (
    ArithmeticTask,
    Example,
    PromptStyle,
    build_prompt,
    check_not_held_out,
    no_reasoning_suffix,
)
from minirl.trainer import GRPOTrainer

DIRECT = {"question": "What is 12 + 43?", "reasoning": "12 + 43 = 55.", "answer": "55"}
STEPWISE = {"question": "What is 6 + 9 + 4?", "reasoning": "6 + 9 = 15.\n15 + 4 = 19.", "answer": "19"}


# ----------------------------------------------------------------------------------- worked examples in the prompt
def test_two_worked_examples_are_shown_in_order_under_one_heading(tiny_tokenizer):
    task = ArithmeticTask(num_terms=3)
    style = PromptStyle(worked_examples=[DIRECT, STEPWISE])
    prompt = build_prompt(Example("What is 1 + 2 + 3?", "6"), tiny_tokenizer, style, task=task)
    assert "Here are some examples:" in prompt and "Here is an example:" not in prompt
    assert (
        prompt.index("12 + 43 = 55.") < prompt.index("6 + 9 = 15.\n15 + 4 = 19.") < prompt.index("1 + 2 + 3")
    )
    assert task.few_shot.worked_reasoning not in prompt  # the task's own example is replaced
    assert prompt.endswith("<think>\n")


def test_one_worked_example_renders_as_the_tasks_own_one_did(tiny_tokenizer):
    """``worked_examples`` with the task's own example gives the prompt the task's ``few_shot`` gives (no drift)."""
    task = ArithmeticTask(max_digits=2)
    own = {
        "question": task.few_shot.question,
        "reasoning": task.few_shot.worked_reasoning,
        "answer": task.few_shot.answer,
    }
    ex = task.examples("test", n=1)[0]
    for chat in (True, False):
        plain = build_prompt(ex, tiny_tokenizer, PromptStyle(chat=chat), task=task)
        given = build_prompt(ex, tiny_tokenizer, PromptStyle(chat=chat, worked_examples=[own]), task=task)
        assert given == plain


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([{"question": "What is 1 + 2?", "answer": "3"}], "must map each of"),
        ([{"question": "What is 1 + 2?", "reasoning": "", "answer": "3"}], "non-empty text"),
        ([], "non-empty list"),
    ],
)
def test_bad_worked_examples_are_one_line_config_errors(value, message):
    with pytest.raises(ConfigError, match=message):
        DataConfig(worked_examples=value)


def test_a_held_out_problem_as_worked_example_is_refused():
    task = ArithmeticTask(max_digits=2)
    held = task.examples("test", n=1)[0]
    leak = {"question": held.question, "reasoning": "x", "answer": held.answer}
    with pytest.raises(ConfigError, match=r"worked_examples\[1\].*held-out problem"):
        check_not_held_out(PromptStyle(worked_examples=[DIRECT, leak]), task)
    check_not_held_out(PromptStyle(worked_examples=[DIRECT]), task)  # a training problem is fine


def test_the_trainer_refuses_a_leaking_worked_example_before_loading_a_model(tmp_path):
    held = ArithmeticTask(max_digits=2).examples("test", n=1)[0]
    leak = [{"question": held.question, "reasoning": "x", "answer": held.answer}]
    data = DataConfig(task_args={"max_digits": 2}, worked_examples=leak)
    cfg = TrainConfig(data=data, run=RunConfig(output_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="held-out"):
        GRPOTrainer(cfg)  # no model passed: the check comes before loading one


# ----------------------------------------------------------------------------------- ways of reasoning
@pytest.mark.parametrize(
    ("completion", "way"),
    [
        ("4 + 7 + 5 = 16.\n</think>\n<answer>16</answer>", "direct"),
        ("4 + 7 = 11.\n11 + 5 = 16.\n</think>\n<answer>16</answer>", "stepwise"),
        ("4 + 7 = 11. 11 + 5 = 16. So 4 + 7 + 5 = 16.</think>", "stepwise"),
        ("The sum is sixteen.\n</think>\n<answer>16</answer>", "none"),
        ("</think>\n<answer>16</answer>", "none"),
        ("4 + 7 = 11. 11 + 5 = 16 <answer>16</answer>", "stepwise"),  # never closed: up to the answer
        ("3 * 4 = 12. 12 - 2 = 10.</think>", "stepwise"),
        ("", "none"),
    ],
)
def test_way_of_reasoning(completion, way):
    assert way_of_reasoning(completion) == way


def test_an_answer_after_the_reasoning_is_not_counted_as_a_step():
    assert count_equations("4 + 7 = 11.") == 1
    assert way_of_reasoning("4 + 7 + 5 = 16.\n</think>\n<answer>4 + 7 + 5 = 16</answer>") == "direct"


def test_way_shares_and_accuracy_per_way():
    shares = way_shares(["stepwise", "stepwise", "direct", "direct"], [1.0, 1.0, 0.0, 1.0])
    assert shares["ways/stepwise"] == 0.5 and shares["ways/stepwise/accuracy"] == 1.0
    assert shares["ways/direct/accuracy"] == 0.5 and shares["ways/none"] == 0.0
    assert "ways/none/accuracy" not in shares  # nothing took it: not measured, not 0


def test_summarize_reports_the_share_and_accuracy_of_each_way_greedy_and_sampled():
    rec = lambda ways, correct: {  # noqa: E731
        "correct": correct,
        "format": [1.0] * len(correct),
        "target_share": [None] * len(correct),
        "truncated": [False] * len(correct),
        "lengths": [10] * len(correct),
        "extracted": ["1"] * len(correct),
        "ways": ways,
    }
    records = [
        rec(["stepwise", "stepwise", "direct"], [1.0, 1.0, 0.0]),
        rec(["direct", "stepwise", "stepwise"], [0.0, 0.0, 1.0]),
    ]
    m = summarize(records, k=2).metrics
    assert m["ways/stepwise"].value == 0.5 and m["ways/stepwise/pass@1"].value == 1.0
    assert m["ways/direct/pass@1"].value == 0.0 and m["ways/none"].value == 0.0
    assert m["ways_sampled/stepwise"].value == 0.75 and m[
        "ways_sampled/stepwise/pass@1"
    ].value == pytest.approx(2 / 3)
    assert m["ways/none/pass@1"].n == 0  # no completion took it: '-' in the table, null in summary.json
    assert set(WAYS) == {"none", "direct", "stepwise"}


# ----------------------------------------------------------------------------------- the reasoning ablation
def test_no_reasoning_suffix_closes_the_reasoning_and_opens_the_answer():
    assert no_reasoning_suffix("Assistant: <think>\n") == "</think>\n<answer>"
    assert no_reasoning_suffix("Assistant:") == "<think>\n</think>\n<answer>"


def test_the_ablation_forces_the_answer_right_after_the_prompt(tiny_model, tiny_tokenizer, monkeypatch):
    from minirl.eval import runner

    seen = []
    real = runner.generate

    def spy(model, tok, prompts, *args, **kwargs):
        seen.extend(prompts)
        return real(model, tok, prompts, *args, **kwargs)

    monkeypatch.setattr(runner, "generate", spy)
    task = ArithmeticTask()
    examples = task.examples("test", n=3)
    result = evaluate_examples(
        tiny_model, tiny_tokenizer, task, examples, PromptStyle(), k=1, max_new_tokens=4, reasoning=False,
        progress=False,
    )  # fmt: skip
    assert all(p.endswith("<think>\n</think>\n<answer>") for p in seen)
    for rec in result.records:  # scored (and saved) as complete completions: the forced text is in front
        assert rec["completions"][0].startswith("</think>\n<answer>")
        assert rec["ways"] == ["none"] and rec["reasoning_words"] == [0]
    assert result.settings["reasoning"] is False


def test_the_ablation_scores_a_right_answer_as_right(tiny_model, tiny_tokenizer, monkeypatch):
    """A model that answers '8' at once after the forced text gets it right: the forced text counts as written."""
    import torch

    from minirl.eval import runner
    from minirl.rollout.generate import Rollout

    def answer(model, tok, prompts, rows, *args, **kwargs):
        n = len(prompts) * rows
        ones = torch.ones(n, 2, dtype=torch.long)
        return Rollout(
            ones, ones, ones, ones, torch.zeros(n, dtype=torch.bool), ["8</answer>"] * n, rows, prompts
        )

    monkeypatch.setattr(runner, "generate", answer)
    result = evaluate_examples(
        tiny_model, tiny_tokenizer, ArithmeticTask(), [Example("What is 3 + 5?", "8")], PromptStyle(chat=False),
        k=1, reasoning=False, progress=False,
    )  # fmt: skip
    assert result.metrics["pass@1"].value == 1.0 and result.metrics["format_rate"].value == 1.0


def test_the_eval_cli_runs_the_ablation(tiny_model_dir, tmp_path):
    out = tmp_path / "eval"
    code = eval_main(
        [
            "--model",
            str(tiny_model_dir),
            "--n",
            "3",
            "--max_new_tokens",
            "4",
            "--no_reasoning",
            "true",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["reasoning"] is False
    rows = [json.loads(line) for line in (out / "problems.jsonl").read_text().splitlines()]
    assert all(r["completions"][0].startswith("</think>\n<answer>") for r in rows)


# ----------------------------------------------------------------------------------- mixed term counts
def test_min_terms_mixes_problem_sizes_and_keeps_the_old_streams():
    mixed = ArithmeticTask(num_terms=5, min_terms=3).examples("test", n=300)
    sizes = {ex.question.count("+") + 1 for ex in mixed}
    assert sizes == {3, 4, 5}
    assert ArithmeticTask(num_terms=3, min_terms=3).examples("train", n=20) == ArithmeticTask(
        num_terms=3
    ).examples(
        "train", n=20
    )  # min_terms == num_terms draws no extra number: the old problems, the same order
    with pytest.raises(ValueError, match="min_terms"):
        ArithmeticTask(num_terms=3, min_terms=4)


# ----------------------------------------------------------------------------------- curriculum
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "non-empty list"),
        ([{"steps": 0, "task_args": {"num_terms": 3}}], r"curriculum\[0\] must be"),
        ([{"task_args": {"num_terms": 3}}], r"curriculum\[0\] must be"),
        ([{"steps": 2, "task_args": {"num_terms": 3}, "lr": 1}], r"curriculum\[0\] must be"),
    ],
)
def test_bad_curriculum_is_a_one_line_config_error(value, message):
    with pytest.raises(ConfigError, match=message):
        DataConfig(curriculum=value)


def test_the_curriculum_trains_on_its_stages_then_the_task_and_evaluates_the_task(
    tmp_path, tiny_model, tiny_tokenizer
):
    from tests.test_trainer import read_metrics, starts_with_a, tiny_config

    stages = [{"steps": 1, "task_args": {"num_terms": 2, "max_digits": 1}}]
    stages.append({"steps": 2, "task_args": {"num_terms": 3, "max_digits": 1}})
    cfg = tiny_config(tmp_path, data={"task_args": {"num_terms": 4, "max_digits": 1}, "curriculum": stages})
    trainer = GRPOTrainer(
        cfg, model=tiny_model, tokenizer=tiny_tokenizer, reward_spec=[("starts_with_a", starts_with_a, 1.0)]
    )
    seen, rollout = [], trainer.rollout
    trainer.rollout = lambda examples: seen.append(examples) or rollout(examples)
    trainer.train()
    terms = [{ex.question.count("+") + 1 for ex in step} for step in seen]
    assert terms == [{2}, {3}, {3}, {4}]
    stages = [r["curriculum/stage"] for r in read_metrics(tmp_path) if r["type"] == "train"]
    assert stages == [0, 1, 1, 2]
    assert {ex.question.count("+") + 1 for ex in trainer.eval_examples} == {4}  # held-out: the task's own
