"""Tests for minirl.tasks: determinism, split disjointness, solvable countdown, GSM8K parsing, prompt rendering."""

from __future__ import annotations

import ast
import json
import operator
import re
from fractions import Fraction

import pytest

from minirl.tasks import (
    R1_ZERO_TEMPLATE,
    ArithmeticTask,
    CountdownTask,
    Example,
    GSM8KTask,
    PromptStyle,
    Task,
    build_prompt,
    get_task,
    render_completion,
    task_names,
)
from minirl.tasks.arithmetic import evaluate_terms
from minirl.tasks.gsm8k import gsm8k_final_answer
from minirl.testing import make_tiny_tokenizer

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _value(node: ast.AST) -> Fraction:
    """Exact value of an arithmetic expression of int literals and + - * / (a test-side checker, no eval)."""
    if isinstance(node, ast.Expression):
        return _value(node.body)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_value(node.left), _value(node.right))
    raise AssertionError(f"unexpected syntax node {ast.dump(node)}")


def _literals(expr: str) -> list[int]:
    return sorted(n.value for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Constant))


def _keys(examples: list[Example]) -> set[str]:
    return {ex.question for ex in examples}


# --- registry -----------------------------------------------------------------------------------------------------


def test_task_names_and_unknown_task():
    assert task_names() == ["arithmetic", "countdown", "gsm8k", "mixture"]
    with pytest.raises(ValueError, match="Unknown task 'mathz'.*arithmetic.*countdown.*gsm8k"):
        get_task("mathz")


def test_unknown_setting_lists_accepted_ones():
    with pytest.raises(ValueError, match="no setting.*'digits'.*max_digits"):
        get_task("arithmetic", digits=2)


@pytest.mark.parametrize("name", ["arithmetic", "countdown"])
def test_unknown_split_and_bad_n(name):
    task = get_task(name)
    with pytest.raises(ValueError, match="Unknown split 'validation'.*train.*test"):
        task.examples("validation")
    with pytest.raises(ValueError, match="positive integer"):
        task.examples("train", n=0)


@pytest.mark.parametrize(
    "kwargs", [{"num_terms": 1}, {"max_digits": 0}, {"ops": "/"}, {"ops": ""}, {"num_terms": True}]
)
def test_arithmetic_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError, match="arithmetic"):
        ArithmeticTask(**kwargs)


@pytest.mark.parametrize("kwargs", [{"num_numbers": 1}, {"max_number": 1}, {"ops": "^"}, {"max_target": 0}])
def test_countdown_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError, match="countdown"):
        CountdownTask(**kwargs)


def test_example_validation_and_reward_kwargs():
    ex = Example("Make 22", "22", {"nums": [3, 5, 7], "target": 22})
    assert ex.reward_kwargs() == {"answer": "22", "nums": [3, 5, 7], "target": 22}
    with pytest.raises(ValueError, match="answer"):
        Example("q", "1", {"answer": "2"})
    with pytest.raises(ValueError, match="question"):
        Example("  ", "1")


# --- procedural tasks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task",
    [
        ArithmeticTask(),
        ArithmeticTask(num_terms=3, max_digits=2, ops="+-*"),
        CountdownTask(),
        CountdownTask(num_numbers=4, ops="+-*/"),
    ],
    ids=repr,
)
def test_procedural_deterministic_and_disjoint(task):
    a = task.examples("train", n=300, seed=3)
    assert a == task.examples("train", n=300, seed=3)  # same seed, same list
    assert a != task.examples("train", n=300, seed=4)  # another seed, another list
    test_keys = {task.key(ex) for seed in (0, 1) for ex in task.examples("test", n=200, seed=seed)}
    train_keys = {task.key(ex) for seed in (0, 1, 3) for ex in task.examples("train", n=300, seed=seed)}
    assert test_keys and train_keys and not test_keys & train_keys
    assert task.key(task.few_shot) not in test_keys
    assert task.split_of(task.few_shot) == "train"


def test_task_seed_changes_problems():
    assert CountdownTask(seed=0).examples("train", n=20) != CountdownTask(seed=1).examples("train", n=20)


def test_small_space_exhausted_then_repeats():
    task = ArithmeticTask()  # single-digit addition: 100 problems in all
    train, test = task.examples("train"), task.examples("test")
    assert len(train) + len(test) == 100  # n=None: every distinct problem of the split, once
    assert len(_keys(train)) == len(train) and not _keys(train) & _keys(test)
    more = task.examples("test", n=len(test) + 5)
    assert len(more) == len(test) + 5 and _keys(more) == _keys(test)
    assert _keys(more[: len(test)]) == _keys(test)  # every problem once before any repeat


def test_arithmetic_answers_are_correct():
    task = ArithmeticTask(num_terms=3, max_digits=2, ops="+-*")
    for ex in task.examples("train", n=200):
        expr = ex.question.removeprefix("What is ").removesuffix("?")
        assert _value(ast.parse(expr, mode="eval")) == int(ex.answer), ex
        assert all(len(str(n)) <= 2 for n in _literals(expr))
    assert ArithmeticTask().examples("test", n=1)[0].question.count("+") == 1


def test_operations_are_the_tasks_evaluation_in_order():
    from minirl.tasks.arithmetic import Operation, operations

    assert operations([2, 3, 4], ["+", "*"]) == [Operation(3, "*", 4, 12), Operation(2, "+", 12, 14, None, 1)]
    assert operations([2, 3, 4, 5], ["*", "*", "-"]) == [
        Operation(2, "*", 3, 6),
        Operation(6, "*", 4, 24, 1),
        Operation(24, "-", 5, 19, 2),
    ]
    ex = ArithmeticTask(num_terms=4, max_digits=2, ops="+-*").examples("train", n=30)
    assert all(e.worked_steps and str(e.worked_steps[-1].value) == e.answer for e in ex)
    with pytest.raises(ValueError, match="unknown operator"):
        operations([1, 2], ["/"])


def test_evaluate_terms_precedence():
    assert evaluate_terms([2, 3, 4], ["+", "*"])[0] == 14
    assert evaluate_terms([2, 3, 4], ["-", "-"])[0] == -5
    with pytest.raises(ValueError, match="operator"):
        evaluate_terms([1, 2], ["/"])


@pytest.mark.parametrize(
    "task", [CountdownTask(), CountdownTask(num_numbers=4, max_number=50, ops="+-*/")], ids=repr
)
def test_countdown_reference_solutions_reach_target(task):
    for ex in task.examples("train", n=300) + task.examples("test", n=100):
        nums, target, solution = ex.extra["nums"], ex.extra["target"], ex.extra["solution"]
        assert len(nums) == task.num_numbers and all(1 <= n <= task.max_number for n in nums)
        assert 1 <= target <= task.max_target and ex.answer == str(target)
        assert _literals(solution) == sorted(nums)  # each number exactly once
        assert _value(ast.parse(solution, mode="eval")) == target, ex
        assert f"Using the numbers {nums}, create an equation that equals {target}." in ex.question


def test_countdown_impossible_settings_error():
    with pytest.raises(ValueError, match="max_target"):
        CountdownTask(num_numbers=2, max_number=2, ops="+", max_target=1)  # sums are >= 2


# --- rewards integration: a perfect completion gets every default reward ------------------------------------------


@pytest.mark.parametrize("name", ["arithmetic", "countdown"])
def test_perfect_completion_scores_full_default_rewards(name):
    rewards = pytest.importorskip("rewards")
    task = get_task(name)
    for ex in [task.few_shot, *task.examples("test", n=5)]:
        completion = render_completion(ex, ex.worked_reasoning or "", task.answer_text(ex))
        kwargs = {k: [v] for k, v in ex.reward_kwargs().items()}
        for reward_name in task.default_rewards:
            assert rewards.get(reward_name)([completion], **kwargs) == [1.0], (reward_name, completion)
        wrong = render_completion(ex, "", "999999")
        main = "countdown" if name == "countdown" else "accuracy"
        assert rewards.get(main)([wrong], **kwargs) == [0.0]


def test_render_completion_text():
    ex = Example("What is 3 + 5?", "8")
    assert render_completion(ex, " 3 + 5 = 8. ") == "3 + 5 = 8.\n</think>\n<answer>8</answer>"
    assert render_completion(ex, "r", "x").endswith("<answer>x</answer>")


# --- GSM8K --------------------------------------------------------------------------------------------------------


def _check_gsm8k_folder(folder, sizes, first_question, first_answer):
    """Loader checks shared by the real copy and the tests' fixture; returns the train and test examples."""
    task = GSM8KTask(folder)
    train, test = task.examples("train"), task.examples("test")
    assert (len(train), len(test)) == sizes
    first = train[0]
    assert first.question.startswith(first_question) and first.answer == first_answer
    assert first.extra["solution"].endswith(f"#### {first_answer}")
    assert first.reward_kwargs()["answer"] == first_answer
    assert all(ex.answer.lstrip("-").isdigit() for ex in train + test)  # commas gone, bare integers
    assert task.examples("test", n=5) == test[:5]
    with pytest.raises(ValueError, match="Unknown split"):
        task.examples("dev")
    return train, test


def test_gsm8k_loads_shared_folder(gsm8k_dir):
    """The real shared copy is complete and parses (skips on a clone without ../shared)."""
    _check_gsm8k_folder(gsm8k_dir, (7473, 1319), "Natalia sold clips", "72")


def test_gsm8k_loads_a_folder_in_its_format(gsm8k_fixture_dir):
    """The loader on the tests' own GSM8K-format rows: the checks above, on any clone."""
    train, test = _check_gsm8k_folder(gsm8k_fixture_dir, (20, 6), "Tom has 15 marbles", "39")
    separated = [ex.answer for ex in train if ex.extra["solution"].endswith(",500")]
    assert separated == ["3500"]  # the thousands separator is dropped
    assert not {ex.question for ex in train} & {ex.question for ex in test}
    assert GSM8KTask(gsm8k_fixture_dir).examples("train", n=3, seed=9) == train[:3]


def test_gsm8k_fixture_solutions_are_right(gsm8k_fixture_dir):
    """Each ``<<expr=value>>`` note of the fixture evaluates to its value; the last one is the gold answer."""
    for split in ("train", "test"):
        for ex in GSM8KTask(gsm8k_fixture_dir).examples(split):
            notes = re.findall(r"<<([^<>=]*)=([^<>]*)>>", ex.extra["solution"])
            assert notes, ex.question
            for expr, value in notes:
                assert _value(ast.parse(expr, mode="eval")) == int(value), (ex.question, expr)
            assert notes[-1][1] == ex.answer, ex.question


def test_gsm8k_path_alias_and_file(gsm8k_fixture_dir, tmp_path):
    assert get_task("gsm8k", path=str(gsm8k_fixture_dir)).source == gsm8k_fixture_dir.resolve()
    one = tmp_path / "mine.jsonl"
    one.write_text(json.dumps({"question": "1 + 1?", "answer": "1 + 1 = 2\n#### 2"}) + "\n\n")
    task = GSM8KTask(str(one))
    assert (
        [ex.answer for ex in task.examples("train")] == ["2"] == [ex.answer for ex in task.examples("test")]
    )


def test_gsm8k_env_var(monkeypatch, tmp_path):
    (tmp_path / "train.jsonl").write_text(json.dumps({"question": "q?", "answer": "x\n#### 1,234"}) + "\n")
    monkeypatch.setenv("MINIRL_GSM8K", str(tmp_path))
    assert GSM8KTask().examples("train")[0].answer == "1234"
    with pytest.raises(ValueError, match="no test.jsonl"):
        GSM8KTask().examples("test")
    monkeypatch.setenv("MINIRL_GSM8K", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="MINIRL_GSM8K.*not found"):
        GSM8KTask()


def test_correctness_is_the_accuracy_reward_at_full_marks():
    """One definition of a right answer: the task's accuracy reward gives exactly 1.0 (None: cannot judge)."""
    from minirl.tasks import correctness, task_class

    texts = ["<answer>(6 - 2) * 5</answer>", "<answer>6 * 5 - 2</answer>", "<answer>20</answer>"]
    nums, target = [[2, 5, 6]] * 3, [20] * 3
    countdown = get_task("countdown")
    assert countdown.correct(texts, nums=nums, target=target, answer=["20"] * 3) == [1.0, 0.0, 0.0]
    assert correctness("countdown", texts, nums=nums, target=target) == [1.0, 0.0, 0.0]
    arithmetic = get_task("arithmetic")
    assert arithmetic.correct(["<answer>19</answer>", texts[2]], answer=["20", "20"]) == [0.0, 1.0]
    assert correctness("accuracy", texts[:1], answer=[None]) == [None]
    assert task_class("countdown") is CountdownTask and task_class("countdown").gold_columns == (
        "nums",
        "target",
    )
    assert task_class("gsm8k").accuracy_reward == "accuracy" and task_class("unknown") is Task


def test_gsm8k_final_answer():
    assert gsm8k_final_answer("a\n#### 1,200") == "1200"
    assert gsm8k_final_answer("#### -3 ") == "-3"
    assert gsm8k_final_answer("no marker") is None and gsm8k_final_answer("####  ") is None


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"question": "q?"}', "missing or empty string field 'answer'"),
        ('{"question": "q?", "answer": "no final"}', "no final answer after '####'"),
        ('{"question": "q?", "answer": ', "invalid JSON"),
        ('["q?", "#### 1"]', "expected a JSON object"),
    ],
)
def test_gsm8k_bad_row_names_file_and_line(tmp_path, bad_line, message):
    good = json.dumps({"question": "q?", "answer": "#### 1"})
    (tmp_path / "train.jsonl").write_text(f"{good}\n{good}\n{bad_line}\n")
    with pytest.raises(ValueError, match=message) as err:
        GSM8KTask(tmp_path).examples("train")
    assert f"{tmp_path / 'train.jsonl'}, line 3" in str(err.value)


def test_gsm8k_hub_unreachable_says_pass_a_local_path(monkeypatch):
    datasets = pytest.importorskip("datasets")

    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    task = GSM8KTask("openai/gsm8k")
    with pytest.raises(ValueError, match="Could not load openai/gsm8k.*local copy"):
        task.examples("test")


# --- prompts ------------------------------------------------------------------------------------------------------


def test_r1_zero_template_verbatim():
    assert R1_ZERO_TEMPLATE.startswith(
        "A conversation between User and Assistant. The user asks a question, and"
    )
    assert R1_ZERO_TEMPLATE.endswith(
        "i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: {prompt}. Assistant:"
    )


@pytest.mark.parametrize("name", ["arithmetic", "countdown"])
def test_build_prompt_chat(tiny_tokenizer, name):
    task = get_task(name)
    ex = task.examples("test", n=1)[0]
    prompt = build_prompt(ex, tiny_tokenizer, PromptStyle(), task=task)
    assert prompt.startswith("<|im_start|>system\nA conversation between User and Assistant.")
    assert prompt.endswith(f"{ex.question}<|im_end|>\n<|im_start|>assistant\n<think>\n")
    assert task.few_shot.question in prompt and task.answer_text(task.few_shot) in prompt  # one-shot example
    bare = build_prompt(ex, tiny_tokenizer, PromptStyle(one_shot=False, prefill_think=False), task=task)
    assert task.few_shot.question not in bare and bare.endswith("<|im_start|>assistant\n")


def test_build_prompt_without_chat_template(tiny_tokenizer):
    plain_tok = make_tiny_tokenizer()
    plain_tok.chat_template = None
    task = ArithmeticTask()
    ex = task.examples("test", n=1)[0]
    prompt = build_prompt(ex, plain_tok, PromptStyle(), task=task)  # auto: no chat template -> plain text
    assert prompt.endswith(f"User: {ex.question}. Assistant: <think>\n")
    assert "<|im_start|>" not in prompt and f"User: {task.few_shot.question}. Assistant: <think>\n" in prompt
    no_shot = build_prompt(ex, plain_tok, PromptStyle(one_shot=False, prefill_think=False), task=task)
    assert no_shot == R1_ZERO_TEMPLATE.format(prompt=ex.question)  # the paper's template exactly
    # chat=False forces plain text even when a chat template exists
    assert build_prompt(ex, tiny_tokenizer, PromptStyle(chat=False), task=task) == prompt
    with pytest.raises(ValueError, match="chat template"):
        build_prompt(ex, plain_tok, PromptStyle(chat=True), task=task)


def test_build_prompt_plain_template_and_system_prompt(tiny_tokenizer):
    task = ArithmeticTask()
    ex = task.examples("test", n=1)[0]
    plain = build_prompt(ex, tiny_tokenizer, PromptStyle(template="plain"), task=task)
    assert plain == f"<|im_start|>user\n{ex.question}<|im_end|>\n<|im_start|>assistant\n"
    custom = build_prompt(
        ex, tiny_tokenizer, PromptStyle(system_prompt="Be brief.", one_shot=False), task=task
    )
    assert custom.startswith("<|im_start|>system\nBe brief.<|im_end|>") and custom.endswith("<think>\n")
    assert build_prompt(ex, None, PromptStyle(template="plain", chat=False)) == ex.question


def test_build_prompt_chinese(tiny_tokenizer):
    task = ArithmeticTask()
    ex = task.examples("test", n=1)[0]
    prompt = build_prompt(ex, tiny_tokenizer, PromptStyle(language="zh"), task=task)
    assert "<think> </think> 和 <answer> </answer> 标签" in prompt and ex.question not in prompt
    assert task.localize(ex, "zh").question in prompt and "所以答案是" in prompt  # the worked example, worded
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")
    base = build_prompt(
        ex, None, PromptStyle(language="zh", chat=False, one_shot=False)
    )  # no task: as written
    assert base.endswith(f"用户：问题：{ex.question}\n请用中文思考。\n助手： <think>\n")


def test_prompt_style_validation():
    with pytest.raises(ValueError, match="template"):
        PromptStyle(template="r1")
    with pytest.raises(ValueError, match="language"):
        PromptStyle(language="it")


def test_prefill_not_doubled_when_chat_template_opens_think(tiny_tokenizer):
    tok = make_tiny_tokenizer()
    tok.chat_template = tiny_tokenizer.chat_template.replace("assistant\n", "assistant\n<think>\n")
    ex = Example("What is 1 + 1?", "2")
    prompt = build_prompt(ex, tok, PromptStyle())
    assert prompt.endswith("assistant\n<think>\n") and prompt.count("<think>\n") == 1
