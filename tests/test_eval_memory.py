"""The evaluation decodes fewer sequences at once when its batch would not fit in half the free memory."""

from __future__ import annotations

from minirl.eval import runner
from minirl.eval.runner import evaluate_examples
from minirl.memory import ModelShape
from minirl.tasks import ArithmeticTask, PromptStyle, build_prompt


def _batches(model, tokenizer, monkeypatch, free):
    sizes = []
    real = runner.generate

    def spy(model, tokenizer, prompts, rows, *args, **kwargs):
        sizes.append(len(prompts) * rows)
        return real(model, tokenizer, prompts, rows, *args, **kwargs)

    monkeypatch.setattr(runner, "generate", spy)
    monkeypatch.setattr(runner, "free_bytes", lambda device: free)
    task = ArithmeticTask()
    result = evaluate_examples(
        model, tokenizer, task, task.examples("test", n=6), PromptStyle(), k=2, max_new_tokens=4, batch_size=12,
        progress=False,
    )  # fmt: skip
    return sizes, result


def test_a_batch_that_does_not_fit_is_cut(tiny_model, tiny_tokenizer, monkeypatch, capsys):
    plenty, whole = _batches(tiny_model, tiny_tokenizer, monkeypatch, free=None)
    assert plenty == [12, 6]  # 4 problems x (greedy + 2 samples), then the last 2 problems
    # room for 7 sequences in half the free memory: batches of 2 problems x 3 sequences
    task = ArithmeticTask()
    longest = max(
        len(tiny_tokenizer(build_prompt(ex, tiny_tokenizer, PromptStyle(), task=task))["input_ids"])
        for ex in task.examples("test", n=6)
    )
    per_row = ModelShape.of(tiny_model).generation_bytes(1, longest + 4)
    cut, small = _batches(tiny_model, tiny_tokenizer, monkeypatch, free=2 * 7 * per_row)
    assert cut == [6, 6, 6]
    assert "evaluation batch 12 -> " in capsys.readouterr().out
    assert len(small.records) == len(whole.records) == 6
    assert [r["question"] for r in small.records] == [r["question"] for r in whole.records]
    greedy = [r["completions"][0] for r in whole.records]
    assert [r["completions"][0] for r in small.records] == greedy  # greedy does not depend on the batch
