"""Our rewards on peers' data and conventions: open-r1 / TRL's ``solution`` column, where the answer of a reasoning
completion is read (only after the reasoning, as TRL's ``reasoning_accuracy_reward``), agreement of accuracy and
format, and open-r1's repetition-penalty scales."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewards
from rewards import RepetitionPenalty, accuracy_reward, countdown_reward, extract_answer, format_reward

GSM8K_SOLUTION = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72"
)


# ------------------------------------------------------------------------------------------------ the gold column
def test_accuracy_accepts_the_solution_column():
    good, bad = "<think>48+24</think><answer>72</answer>", "<think>48+24</think><answer>71</answer>"
    assert accuracy_reward([good, bad], solution=[GSM8K_SOLUTION] * 2) == [1.0, 0.0]  # GSM8K: after ####
    math_solution = (
        r"The area is $\frac{1}{2} \cdot 3 = \boxed{\frac{3}{2}}$."  # MATH / open-r1: the last box
    )
    assert accuracy_reward(["<answer>\\frac{3}{2}</answer>"], solution=[math_solution]) == [1.0]
    assert accuracy_reward(["<answer>1.5</answer>"], solution=r"$\frac{3}{2}$") == [
        1.0
    ]  # TRL style, one value
    assert accuracy_reward(["<answer>1</answer>"], solution=[None]) == [None]


def test_answer_wins_when_both_columns_are_given():
    text = ["<answer>5</answer>"]
    assert accuracy_reward(text, answer=["5"], solution=["#### 6"]) == [1.0]
    assert accuracy_reward(text, answer=["6"], solution=["#### 5"]) == [0.0]


def test_accuracy_without_a_gold_column_names_both():
    with pytest.raises(ValueError, match="needs the gold column `answer` \\(or `solution`"):
        accuracy_reward(["<answer>5</answer>"], prompts=["q"])
    with pytest.raises(ValueError, match="`solution` has 2 entries but there are 1"):
        accuracy_reward(["<answer>5</answer>"], solution=["1", "2"])


def test_trl_style_keyword_call_reaches_the_solution_column():
    """TRL calls ``reward(prompts=..., completions=..., completion_ids=..., **columns)``: every column by keyword."""
    out = accuracy_reward(
        prompts=["q", "q"],
        completions=[[{"role": "assistant", "content": "<answer>72</answer>"}]] * 2,
        completion_ids=[[1], [2]],
        solution=[GSM8K_SOLUTION, "#### 7"],
        problem=["p", "p"],
        trainer_state=None,
    )
    assert out == [1.0, 0.0]


# -------------------------------------------------------------------------------- where a reasoning's answer is
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>2+2</think><answer>4</answer>", "4"),
        ("2+2</think><answer>4</answer>", "4"),  # prompt prefilled <think>
        ("<answer>4</answer>", "4"),  # no reasoning at all
        ("<think>maybe <answer>4</answer></think>", None),  # an answer inside the reasoning is not the answer
        ("<think>maybe <answer>4</answer></think><answer>5</answer>", "5"),
        ("<think>still thinking <answer>4</answer>", None),  # the reasoning never ended
        ("<think>a</think><think>b <answer>4</answer></think>", None),  # only after the LAST </think>
        ("<think>a</think><answer>3</answer><think>b</think>", None),
        ("<think>a</think> text <answer>1</answer> <answer>2</answer>", "2"),  # the last block after it
    ],
)
def test_the_answer_is_read_only_after_the_reasoning(text, expected):
    assert extract_answer(text) == expected


def test_prefilled_think_prompt_makes_an_unclosed_reasoning_answerless():
    """A prompt ending with ``<think>`` means the completion starts inside the reasoning; TRL passes ``prompts``."""
    text = ["2+2 is 4 <answer>4</answer>"]
    assert accuracy_reward(text, answer=["4"]) == [1.0]  # no prompt: nothing says a reasoning was opened
    assert accuracy_reward(text, answer=["4"], prompts=["What is 2+2? <think>\n"]) == [0.0]
    assert accuracy_reward(text, answer=["4"], prompts=["What is 2+2?"]) == [1.0]
    closed = ["2+2 is 4</think><answer>4</answer>"]
    assert accuracy_reward(closed, answer=["4"], prompts=["What is 2+2? <think>\n"]) == [1.0]
    conversation = [[{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>"}]]
    assert accuracy_reward(text, answer=["4"], prompts=conversation) == [0.0]  # continued assistant message
    assert countdown_reward(["1+2 <answer>1+2</answer>"], nums=[[1, 2]], target=[3], prompts=["<think>"]) == [
        0.0
    ]
    assert extract_answer("2+2 is 4 <answer>4</answer>", in_reasoning=True) is None


_PIECES = ["<think>", "</think>", "<answer>", "</answer>", "4", "5", " ", "\n", "x", "\\boxed{4}"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12))
def test_accuracy_and_format_agree(pieces):
    """Well-formed (format 1) implies accuracy reads the answer block; an answer accuracy reads is never inside an
    open or closed reasoning block."""
    text = "".join(pieces)
    answer = extract_answer(text)
    if format_reward([text]) == [1.0]:
        block = text[text.rfind("<answer>") + len("<answer>") : text.rfind("</answer>")]
        assert answer == (rewards.last_boxed(block) or block).strip()
    if answer is not None:
        close = text.rfind("</think>")
        assert text.rfind("<think>") <= close  # no reasoning left open
        assert text.rfind("<answer>") > close  # the block read starts after the reasoning
        assert accuracy_reward([text], answer=[answer]) == [1.0] or not answer


# --------------------------------------------------------------------------------------------- repetition scale
def open_r1_repetition(text: str, ngram_size: int, max_penalty: float) -> float:
    """open-r1's ``repetition_penalty_reward`` (src/open_r1/rewards.py) for one text, ``max_penalty <= 0``."""
    words = text.lower().split()
    if len(words) < ngram_size:
        return 0.0
    ngrams, total = set(), 0
    for ng in zip(*[words[i:] for i in range(ngram_size)]):
        ngrams.add(ng)
        total += 1
    return (1 - len(ngrams) / total) * max_penalty


@pytest.mark.parametrize("scale", [-0.5, -1.0, -2.0, -10.0])
def test_repetition_penalty_takes_open_r1_scales(scale):
    texts = ["go go go go go go", "the cat sat on the mat the cat sat", "a b", "one two three four"]
    ours = RepetitionPenalty(n=3, max_penalty=abs(scale))(texts)
    assert ours == pytest.approx([open_r1_repetition(t, 3, scale) for t in texts])
    assert RepetitionPenalty(n=3, max_penalty=scale)(texts) == ours  # open-r1's sign convention works as well
    assert min(ours) >= -abs(scale)


def test_repetition_penalty_refuses_non_finite_scales():
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError, match="max_penalty"):
            RepetitionPenalty(max_penalty=bad)
