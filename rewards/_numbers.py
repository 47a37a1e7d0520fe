r"""Exact, bounded number parsing for answers: ``"1,000"``, ``"$18"``, ``"18.00"``, ``"1/2"``, ``"\frac{1}{2}"``.

Values are ``fractions.Fraction`` so ``0.1 + 0.2 == 0.3`` holds and ``18.00 == 18`` exactly; there is no float
anywhere. Inputs are bounded before any conversion (length, digits, exponent), so a million-digit answer or
``1e999999`` is rejected in constant time instead of building a huge int (and Python's int-from-string digit
limit is never reached).
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_CHARS = 128  # a longer string is not a number we compare
MAX_DIGITS = 100  # digits in one numeral
MAX_EXPONENT = 100  # |e| in scientific notation

# A decimal numeral: optional thousands groups, optional fraction, optional exponent. Every quantifier is on a
# disjoint character class and the input is at most MAX_CHARS, so matching is linear.
_DEC = r"(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d*)?(?:[eE][-+]?\d{1,4})?"
_DECIMAL = re.compile(rf"([-+]?)\s*({_DEC})")
_SLASH = re.compile(rf"([-+]?)\s*({_DEC})\s*/\s*({_DEC})")
_FRAC = re.compile(rf"([-+]?)\s*\\[dt]?frac\s*\{{\s*([-+]?{_DEC})\s*\}}\s*\{{\s*([-+]?{_DEC})\s*\}}")
_FRAC_SHORT = re.compile(r"([-+]?)\s*\\[dt]?frac(\d)(\d)")  # \frac12

_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_WRAPPER_CMD = re.compile(r"\\(?:boxed|text|textbf|mathrm|mbox)\{([^{}]*)\}")
_SPACING = re.compile(r"\\[!,;: ]|~|\\displaystyle")
_CURRENCY = re.compile(r"^([-+]?)\s*(?:\\\$|\$|€|£|¥|₹|USD\b|usd\b)\s*")
_UNIT_CMD = re.compile(r"\s*\\(?:text|mbox|mathrm)\{[^{}]*\}$")
_UNIT_WORDS = re.compile(r"\s+([A-Za-z]+(?:\s+[A-Za-z]+){0,2})$")
_TRAILING = re.compile(r"(?:\\%|%|\^\s*\{?\\circ\}?|°)$")
# Words that change the value: "5 million" must not parse as 5.
_MAGNITUDE = {"hundred", "thousand", "million", "billion", "trillion", "dozen", "k", "m", "b", "bn"}


def _unwrap(s: str) -> str:
    """Strip math delimiters and a whole-string ``\\boxed{}``/``\\text{}``, repeatedly."""
    while True:
        prev = s
        for left, right in _WRAPPERS:
            if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
                s = s[len(left) : len(s) - len(right)].strip()
        m = _WRAPPER_CMD.fullmatch(s)
        if m:
            s = m.group(1).strip()
        if s == prev:
            return s


def _clean(s: str) -> str | None:
    """Remove the decorations around a numeral (currency, units, %, delimiters); ``None`` if it changes value."""
    s = _SPACING.sub("", s.replace("\u2212", "-").replace("{,}", ",")).strip()
    s = _unwrap(s)
    s = _CURRENCY.sub(r"\1", s)
    if s.endswith("."):  # sentence end: "18."
        s = s[:-1].rstrip()
    s = _TRAILING.sub("", s).rstrip()
    s = _UNIT_CMD.sub("", s)
    m = _UNIT_WORDS.search(s)
    if m:
        words = m.group(1).lower().split()
        if any(w in _MAGNITUDE for w in words):
            return None
        s = s[: m.start()]
    return _unwrap(s.strip())


def _decimal(text: str) -> Fraction | None:
    """A bounded decimal numeral (no sign) as a Fraction, or ``None``."""
    mantissa, _, exponent = text.replace(",", "").lower().partition("e")
    digits = sum(ch.isdigit() for ch in mantissa)
    if digits == 0 or digits > MAX_DIGITS:
        return None
    if exponent and abs(int(exponent)) > MAX_EXPONENT:
        return None
    return Fraction(mantissa.rstrip(".") or "0") * Fraction(10) ** int(exponent or "0")


def _signed(sign: str, text: str) -> Fraction | None:
    inner_sign = ""
    if text and text[0] in "+-":
        inner_sign, text = text[0], text[1:]
    value = _decimal(text)
    if value is None:
        return None
    return -value if (sign == "-") != (inner_sign == "-") else value


def parse_number(s: str | int | Fraction) -> Fraction | None:
    r"""The exact value of a numeric answer, or ``None`` if it is not (only) a number.

    Accepted: integers and decimals with optional thousands commas (``1,000``), a sign (also ``−``),
    scientific notation (``1.5e3``), ``a/b`` and ``\frac{a}{b}`` (also ``\dfrac``, ``\frac12``), math delimiters
    (``$...$``, ``\(...\)``), a currency prefix (``$``, ``\$``, ``€``, ``£``), a trailing ``%`` or degree sign
    (the number is kept as written: ``50%`` gives 50), a trailing ``\text{unit}`` or up to three unit words
    (``18 dollars``), and a final period. Magnitude words (``5 million``) and anything else give ``None``.

    >>> parse_number("1,000") == parse_number("1000.0") == 1000
    True
    >>> parse_number("$18.00"), parse_number(r"\frac{1}{2}"), parse_number("-3")
    (Fraction(18, 1), Fraction(1, 2), Fraction(-3, 1))
    >>> parse_number("0.1") + parse_number("0.2") == parse_number("0.3")
    True
    >>> parse_number("1,00") is None, parse_number("9" * 10_000) is None, parse_number("5 million") is None
    (True, True, True)
    """
    if isinstance(s, bool):
        return None
    if isinstance(s, int):
        return Fraction(s) if abs(s) < 10**MAX_DIGITS else None
    if isinstance(s, Fraction):
        return s
    if not isinstance(s, str) or len(s) > 4 * MAX_CHARS:
        return None
    cleaned = _clean(s)
    if cleaned is None or not cleaned or len(cleaned) > MAX_CHARS:
        return None
    m = _DECIMAL.fullmatch(cleaned)
    if m:
        return _signed(m.group(1), m.group(2))
    m = _SLASH.fullmatch(cleaned) or _FRAC.fullmatch(cleaned) or _FRAC_SHORT.fullmatch(cleaned)
    if m:
        num, den = _signed(m.group(1), m.group(2)), _signed("", m.group(3))
        if num is None or not den:  # unparsable, or division by zero
            return None
        return num / den
    return None


def format_number(x: Fraction) -> str:
    """Canonical text of a number: ``"1000"``, ``"0.5"``, ``"-2.25"``; ``"1/3"`` when the decimal never ends.

    >>> format_number(Fraction(1000)), format_number(Fraction(1, 2)), format_number(Fraction(-1, 3))
    ('1000', '0.5', '-1/3')
    """
    if x.denominator == 1:
        return str(x.numerator)
    d, twos, fives = x.denominator, 0, 0
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    while d % 5 == 0:
        d, fives = d // 5, fives + 1
    if d != 1:
        return f"{x.numerator}/{x.denominator}"
    k = max(twos, fives)
    digits = str(abs(x.numerator) * 10**k // x.denominator).rjust(k + 1, "0")
    return f"{'-' if x < 0 else ''}{digits[:-k]}.{digits[-k:]}"
