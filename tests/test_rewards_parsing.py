"""Helpers behind the rewards: completion text, tag extraction, numbers, gold answers, normalization."""

from __future__ import annotations

from fractions import Fraction

import pytest

from rewards import (
    answers_equal,
    completion_text,
    extract_answer,
    extract_think,
    format_number,
    last_boxed,
    normalize_answer,
    parse_gold,
    parse_number,
)
from rewards._text import column, completion_texts


def test_completion_text_forms():
    assert completion_text("hi") == "hi"
    assert completion_text([{"role": "assistant", "content": "hi"}]) == "hi"
    assert completion_text({"role": "assistant", "content": "hi"}) == "hi"
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "a"}, "b"]}]) == "ab"
    conv = [{"role": "assistant", "content": "a"}, {"role": "tool", "content": "x"}, {"content": "b"}]
    assert completion_text(conv) == "a\nb"
    assert completion_text(b"caf\xc3\xa9 \xff") == "café \ufffd"
    for junk in (None, 3, [None, 5], [{"role": "assistant", "content": None}], object()):
        assert completion_text(junk) == ""


def test_completion_texts_refuses_a_bare_string():
    with pytest.raises(TypeError, match="single string"):
        completion_texts("<answer>1</answer>")
    with pytest.raises(TypeError, match="must be a list"):
        completion_texts(5)


def test_column_broadcasts_and_checks_length():
    assert column("4", 3, "answer", "r") == ["4", "4", "4"]
    assert column(["1", "2"], 2, "answer", "r") == ["1", "2"]
    with pytest.raises(ValueError, match="`answer` has 1 entries but there are 2"):
        column(["1"], 2, "answer", "r")
    with pytest.raises(ValueError, match="needs the gold column `answer`"):
        column(None, 2, "answer", "r")


def test_extract_think():
    assert extract_think("<think> a </think><answer>1</answer>") == "a"
    assert extract_think("a</think><answer>1</answer>") == "a"  # prompt ended with <think>
    assert extract_think("<think>a<think>b</think>") == "b"
    assert extract_think("<think>never closed") is None
    assert extract_think("") is None


def test_extract_answer():
    assert extract_answer("<answer>42</answer>") == "42"
    assert extract_answer("<answer>1</answer><answer>2</answer>") == "2"
    assert extract_answer(r"<answer>so \boxed{\frac{1}{2}} hence</answer>") == r"\frac{1}{2}"
    assert extract_answer(r"<answer>\boxed{1} then \boxed{2}</answer>") == "2"
    assert extract_answer(r"<answer>\boxed{unclosed</answer>") == r"\boxed{unclosed"
    assert extract_answer(r"\boxed{42}") is None  # the answer block is required
    assert extract_answer("</answer><answer>") is None
    assert extract_answer("<answer>5") is None


def test_last_boxed_nested_and_unbalanced():
    assert last_boxed(r"\boxed{a{b}c}") == "a{b}c"
    assert last_boxed(r"\boxed{\boxed{1}}") == r"\boxed{1}"  # the one closing last: the outer box
    assert last_boxed(r"\boxed{1} \boxed{2") == "1"
    assert last_boxed("}}}{{{") is None
    assert last_boxed(r"\boxed 5") is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1000", Fraction(1000)),
        ("1,000", Fraction(1000)),
        ("1,234,567.5", Fraction(2469135, 2)),
        ("$18", Fraction(18)),
        (r"\$18", Fraction(18)),
        ("18.00", Fraction(18)),
        ("18.", Fraction(18)),
        ("1/2", Fraction(1, 2)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        (r"\frac{1}{2}", Fraction(1, 2)),
        (r"\dfrac{3}{4}", Fraction(3, 4)),
        (r"-\frac{1}{2}", Fraction(-1, 2)),
        (r"\frac12", Fraction(1, 2)),
        ("-3", Fraction(-3)),
        ("\u22123", Fraction(-3)),
        ("+7", Fraction(7)),
        ("1e3", Fraction(1000)),
        ("2.5E-1", Fraction(1, 4)),
        ("50%", Fraction(50)),
        (r"50\%", Fraction(50)),
        ("18 dollars", Fraction(18)),
        (r"5 \text{cm}", Fraction(5)),
        ("$5$", Fraction(5)),
        (r"\(5\)", Fraction(5)),
        (r"\boxed{5}", Fraction(5)),
        (r"1\,000", Fraction(1000)),
        ("1{,}000", Fraction(1000)),
        ("-$5", Fraction(-5)),
        (7, Fraction(7)),
    ],
)
def test_parse_number_accepts(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "text",
    ["", " ", ".", "-", "1,00", "12,34", "1/0", "x", "3 or 4", "5 million", "2 k", "1e999", "9" * 101, "--5",
     "1.2.3", "five", "0x10", "1_000", True, None, 1.5, 10**200, "\ud800", "9" * 1_000_000],
)  # fmt: skip
def test_parse_number_rejects(text):
    assert parse_number(text) is None


def test_exact_arithmetic():
    assert parse_number("0.1") + parse_number("0.2") == parse_number("0.3")
    assert parse_number("0.30000000000000004") != parse_number("0.3")
    assert parse_number("1e-100") == Fraction(1, 10**100)


def test_format_number():
    assert format_number(Fraction(1000)) == "1000"
    assert format_number(Fraction(-9, 4)) == "-2.25"
    assert format_number(Fraction(1, 1000)) == "0.001"
    assert format_number(Fraction(2, 3)) == "2/3"


def test_normalize_answer():
    assert normalize_answer("1,000.0") == "1000"
    assert normalize_answer("$1,000") == "1000"
    assert normalize_answer(r"\frac{1}{2}") == normalize_answer("0.5") == normalize_answer("1/2") == "0.5"
    assert normalize_answer(r"\left( 1, 2 \right)") == "(1,2)"
    assert normalize_answer(r"\text{(A)}") == "(A)"
    assert normalize_answer(r"30^\circ") == "30"
    assert normalize_answer(r"$\sqrt{2}$.") == r"\sqrt{2}"
    assert normalize_answer(None) is None
    assert normalize_answer("  ") is None
    assert normalize_answer("-3") != normalize_answer("3")


def test_parse_gold():
    solution = (
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72"
    )
    assert parse_gold(solution) == "72"
    assert parse_gold("#### 1,000") == "1,000"
    assert parse_gold("  18 ") == "18"
    assert parse_gold(18) == "18"
    assert parse_gold(2.5) == "2.5"
    assert parse_gold(Fraction(1, 2)) == "1/2"
    assert parse_gold(r"The area is $\boxed{\frac{3}{4}}$.") == r"\frac{3}{4}"
    for bad in (None, "", "   ", "####", "#### ", True, float("nan"), [1], 10**500):
        assert parse_gold(bad) is None


@pytest.mark.parametrize(
    ("pred", "gold"),
    [("1,000", "1000"), ("$18", "18"), ("18.00", "18"), ("1/2", "0.5"), (r"\frac{1}{2}", "0.5"),
     (r"\frac{1}{2}", "1/2"), ("18 dollars", "18"), (r"\sqrt{2}", r"\sqrt{2}"), (r"\dfrac{\pi}{2}", r"\frac{\pi}{2}"),
     ("(1, 2)", "(1,2)")],
)  # fmt: skip
def test_answers_equal_true(pred, gold):
    assert answers_equal(pred, gold, symbolic=False)


@pytest.mark.parametrize(
    ("pred", "gold"),
    [("-3", "3"), ("18", "1.8"), ("0.3333", "1/3"), ("", "1"), (None, "1"), ("1", None), ("A", "B"),
     ("5 million", "5"), (r"\sqrt{2}", r"\sqrt{3}")],
)  # fmt: skip
def test_answers_equal_false(pred, gold):
    assert not answers_equal(pred, gold, symbolic=False)
    assert not answers_equal(pred, gold)
