r"""Accuracy reward: is the final answer right, checked by rule (DeepSeek-R1, sec. 2.2.2, "Accuracy rewards").

R1 checks the answer "in a specified format (e.g., within a box)"; here the answer is the content of the last
``<answer>...</answer>`` block, or of the last ``\boxed{}`` inside it (see ``extract_answer``), read only after the
reasoning, as TRL's ``reasoning_accuracy_reward`` does:

- an answer block inside ``<think>...</think>`` is part of the reasoning, not the answer: only what follows the last
  ``</think>`` counts;
- a reasoning that never ends (``<think>`` with no ``</think>`` after it, or, when the ``prompts`` keyword shows the
  prompt ending with ``<think>``, a completion without ``</think>``) has no answer and scores 0;
- a completion without think tags is read whole (it does not reason).

So a completion ``format_reward`` calls well-formed always has its answer block read here. The converse does not
hold on purpose: accuracy judges the answer, not the template (a bare ``<answer>18</answer>`` is right, format 0).

The gold column is ``answer`` or, as open-r1 and TRL's math datasets name it, ``solution``; ``answer`` wins when both
are passed. Comparison, in order:

1. numbers by exact value (``1,000`` = ``1000``, ``$18`` = ``18``, ``1/2`` = ``0.5`` = ``\frac{1}{2}``);
2. the same text after light LaTeX normalization (``normalize_answer``);
3. symbolic equivalence through ``math-verify`` (``pip install minirl-grpo[math]``), when installed.

Departure: math-verify runs sympy, which evaluates ``9^{9^{9}}`` or ``100000!`` eagerly and cannot be
interrupted inside C code, so answers only reach it when they are short and tame (``_symbolic_ok``); anything
else is decided by steps 1-2. Without math-verify, step 3 is skipped and rewards stay deterministic rule checks.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import numbers
import re
import threading
from decimal import Decimal
from fractions import Fraction
from types import ModuleType
from typing import Any

from rewards._numbers import MAX_DIGITS, format_number, parse_number
from rewards._text import column, completion_texts, extract_answer, last_boxed, reasoning_flags

# ---------------------------------------------------------------------------------------------------------------------
# Normalization

_LATEX_DROP = re.compile(r"\\left\b|\\right\b|\\displaystyle\b|\\[!,;: ]|\^\s*\{?\\circ\}?|\s+")
_LATEX_UNWRAP = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox)\{([^{}]*)\}")
_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))


def normalize_answer(s: str | None) -> str | None:
    r"""A canonical string for comparing and majority-voting answers; ``None`` for a missing or empty answer.

    Numbers become their canonical value (``"1,000.0"`` -> ``"1000"``, ``"1/2"`` -> ``"0.5"``); other answers
    lose math delimiters, ``\left``/``\right``, spacing commands, ``\text{}`` wrappers, degree marks, all
    whitespace and a final period, and ``\dfrac``/``\tfrac`` become ``\frac``.

    >>> normalize_answer("1,000.0"), normalize_answer(r"\frac{1}{2}"), normalize_answer("$18")
    ('1000', '0.5', '18')
    >>> normalize_answer(r"$\dfrac{\pi}{ 2 }$")
    '\\frac{\\pi}{2}'
    >>> normalize_answer("  ") is None
    True
    """
    if not isinstance(s, str):
        return None
    value = parse_number(s)
    if value is not None:
        return format_number(value)
    t = s.strip().rstrip(".").rstrip()  # a final period may sit outside the math delimiters
    for left, right in _DELIMS:
        if len(t) >= len(left) + len(right) and t.startswith(left) and t.endswith(right):
            t = t[len(left) : len(t) - len(right)]
    t = _LATEX_UNWRAP.sub(r"\1", t)
    t = _LATEX_DROP.sub("", t.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac"))
    t = t.rstrip(".")
    return t or None


def parse_gold(gold: Any) -> str | None:
    r"""The gold answer as a string: a bare value, a GSM8K solution (what follows the last ``####``), or a
    solution with a ``\boxed{}`` (MATH style); ``None`` when there is nothing usable.

    >>> parse_gold("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72")
    '72'
    >>> parse_gold(18), parse_gold(r"so the area is $\boxed{\frac{3}{4}}$."), parse_gold("####  ")
    ('18', '\\frac{3}{4}', None)
    """
    if gold is None or isinstance(gold, bool):
        return None
    if isinstance(gold, numbers.Integral):  # also numpy integers
        return str(int(gold)) if abs(gold) < 10**MAX_DIGITS else None
    if isinstance(gold, (Fraction, Decimal)):
        return str(gold)
    if isinstance(gold, numbers.Real):
        value = float(gold)
        return repr(value) if math.isfinite(value) else None
    if not isinstance(gold, str):
        return None
    if "####" in gold:
        text = gold.rsplit("####", 1)[1]
    else:
        boxed = last_boxed(gold)
        text = gold if boxed is None else boxed
    text = text.strip()
    return text or None


# ---------------------------------------------------------------------------------------------------------------------
# Symbolic equivalence (optional math-verify)

MAX_SYMBOLIC_CHARS = 100
# math-verify's timeouts are wall-clock (signal.alarm): a last guard, since _symbolic_ok already keeps sympy's work
# small. They are generous, as TRL's (10 s / 5 s): with 1 s, a legitimate `(x+1)^2` vs `x^2+2x+1` (0.2 s of CPU, first
# parse included) timed out on a loaded 2-core machine and a right answer scored 0, at random.
PARSE_TIMEOUT_S, VERIFY_TIMEOUT_S = 10, 5
# Names that sympy evaluates harmlessly; any other word (gamma, factorial, binom, ...) may trigger huge work.
_SAFE_NAMES = (
    "frac dfrac tfrac sqrt pi cdot times div left right infty pm mp le ge leq geq neq ne lt gt in cup cap "
    "emptyset varnothing circ log ln sin cos tan sec csc cot exp theta alpha beta displaystyle quad"
)
_SAFE_WORDS = frozenset(_SAFE_NAMES.split())
_WORD = re.compile(r"[A-Za-z]{2,}")
_POWER = re.compile(r"\^|\*\*")
_EXPONENT = re.compile(r"\s*(?:\{\s*-?(\d{1,2}|[A-Za-z])\s*\}|-?(\d{1,2})(?!\d)|([A-Za-z])(?![A-Za-z]))")
MAX_POWERS = 4
MAX_GROUP_EXPONENT = 9  # sympy expands (a+b)^n: keep the sum of n over parenthesised bases small
_BIG_NUMBER = re.compile(r"\d{7}")
_MATH_VERIFY: list[ModuleType | None] = []  # lazily filled cache: [module] or [None]


def _math_verify() -> ModuleType | None:
    """The math_verify module if installed (imported on first use, so ``import rewards`` stays light)."""
    if not _MATH_VERIFY:
        found = importlib.util.find_spec("math_verify") is not None
        _MATH_VERIFY.append(importlib.import_module("math_verify") if found else None)
    return _MATH_VERIFY[0]


def _symbolic_ok(s: str) -> bool:
    """Whether ``s`` is short and tame enough to hand to sympy: bounded size, no huge powers or factorials."""
    if len(s) > MAX_SYMBOLIC_CHARS or "!" in s or _BIG_NUMBER.search(s):
        return False
    if any(w.group() not in _SAFE_WORDS for w in _WORD.finditer(s)):
        return False
    group_exponent = 0
    for i, power in enumerate(_POWER.finditer(s)):
        m = _EXPONENT.match(s, power.end())
        if m is None or i >= MAX_POWERS:
            return False
        exponent = m.group(1) or m.group(2) or "1"  # a letter exponent is not expanded
        if s[: power.start()].rstrip()[-1:] in (")", "}", "]"):
            group_exponent += int(exponent) if exponent.isdigit() else 1
            if group_exponent > MAX_GROUP_EXPONENT:
                return False
    return True


def _symbolic_equal(pred: str, gold: str) -> bool:
    mv = _math_verify()
    if mv is None or not (_symbolic_ok(pred) and _symbolic_ok(gold)):
        return False
    # math-verify's timeout uses signal.alarm, which only works in the main thread; elsewhere our input
    # bounds are the guard.
    main = threading.current_thread() is threading.main_thread()
    parse_limit, verify_limit = (PARSE_TIMEOUT_S, VERIFY_TIMEOUT_S) if main else (None, None)
    try:
        gold_parsed = mv.parse(f"${gold}$", parsing_timeout=parse_limit)
        pred_parsed = mv.parse(f"${pred}$", parsing_timeout=parse_limit)
        return bool(
            gold_parsed and pred_parsed and mv.verify(gold_parsed, pred_parsed, timeout_seconds=verify_limit)
        )
    except Exception:  # narrow scope, broad type: sympy and the LaTeX parser raise a zoo of types
        return False


def answers_equal(pred: str | None, gold: str | None, *, symbolic: bool = True) -> bool:
    r"""Whether a predicted answer matches the gold one (see the module docstring for the order of checks).

    >>> answers_equal("1,000", "1000"), answers_equal("$18", "18.00"), answers_equal(r"\frac{1}{2}", "0.5")
    (True, True, True)
    >>> answers_equal("-3", "3"), answers_equal(None, "3"), answers_equal("0.30000000000000004", "0.3")
    (False, False, False)
    """
    if not isinstance(pred, str) or not isinstance(gold, str):
        return False
    p, g = parse_number(pred), parse_number(gold)
    if p is not None and g is not None:
        return p == g
    p_norm, g_norm = normalize_answer(pred), normalize_answer(gold)
    if p_norm is None or g_norm is None:
        return False
    if p_norm == g_norm:
        return True
    return symbolic and _symbolic_equal(pred, gold)


# ---------------------------------------------------------------------------------------------------------------------
# The reward


class AccuracyReward:
    """1.0 if the extracted answer equals the gold answer, 0.0 if not (or no answer), ``None`` if the gold cannot be
    parsed.

    Args:
        symbolic: also accept answers math-verify proves equivalent (when the ``math`` extra is installed).

    Call: ``reward(completions, answer=[...], **ignored)`` or ``reward(completions, solution=[...])``: the gold
    column, one per completion (a single value is used for all). ``answer`` wins when both are given (minirl's tasks
    name it ``answer``; open-r1 and TRL datasets ``solution``). Gold may be a bare value, a raw GSM8K solution
    (what follows ``####``) or a solution with a ``\\boxed{}`` (``parse_gold``). ``prompts`` (TRL and minirl pass it)
    tells a completion that starts inside a prefilled ``<think>``: its answer must come after ``</think>``.

    >>> accuracy_reward(["<think>6*3</think><answer>18</answer>", "<answer>$18.00</answer>", "18"],
    ...                 answer=["#### 18"] * 3)
    [1.0, 1.0, 0.0]
    >>> accuracy_reward(["<think>is it <answer>18</answer>?</think>"], solution=["#### 18"])
    [0.0]
    >>> accuracy_reward(["<answer>1/2</answer>"], answer=[None])
    [None]
    """

    def __init__(self, symbolic: bool = True) -> None:
        self.symbolic = symbolic
        self.__name__ = "accuracy_reward"  # the name TRL logs under

    def __call__(
        self, completions: list, answer: Any = None, solution: Any = None, prompts: Any = None, **kwargs: Any
    ) -> list[float | None]:
        texts = completion_texts(completions)
        if answer is None and solution is None:
            raise ValueError(
                "accuracy_reward needs the gold column `answer` (or `solution`, as open-r1 / TRL datasets name it): "
                "pass answer=[...], one per completion."
            )
        name, gold_col = ("answer", answer) if answer is not None else ("solution", solution)
        golds = column(gold_col, len(texts), name, "accuracy_reward")
        flags = reasoning_flags(prompts, len(texts), "accuracy_reward")
        out: list[float | None] = []
        for text, raw_gold, in_reasoning in zip(texts, golds, flags):
            gold = parse_gold(raw_gold)
            if gold is None:
                out.append(None)
                continue
            pred = extract_answer(text, in_reasoning)
            out.append(1.0 if answers_equal(pred, gold, symbolic=self.symbolic) else 0.0)
        return out

    def __repr__(self) -> str:
        return f"AccuracyReward(symbolic={self.symbolic})"


accuracy_reward = AccuracyReward()
