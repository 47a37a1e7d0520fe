r"""Language-consistency reward (DeepSeek-R1, sec. 2.3.2): the share of target-language words in the reasoning.

R1 adds this reward against language mixing, computed "as the proportion of target language words in the CoT",
i.e. Num(target-language words) / Num(words). The paper does not define a word; here it is:

- a run of letters of one alphabetic script (Latin, Greek, Cyrillic, Arabic, Devanagari, Hangul, others) is
  one word; combining marks belong to their script, so Hindi or accented words are not split;
- each Han character (zh, ja kanji) and each kana (ja) is one word, since those scripts do not use spaces;
- a lone ASCII letter is not a word: it is almost always a math variable (``x``, ``n``), and counting it
  would penalise Chinese reasoning that uses ``x``; "a" and "I" are lost as a result;
- LaTeX command names (``\frac``, ``\sum``) are not words; digits, punctuation and symbols are not words;
- **code is not target-language**: the words of fenced blocks (three backticks), inline backtick spans,
  Python-looking lines (``def``/``class``/``import``/``return`` lines, ``for ... in ...:``, ``if ...:`` with
  an operator, assignments of lists/strings/calls or to ``a_b``/``a.b``/``a[i]``, ``>>>`` prompts) and
  inline ``snake_case``, ``module.func(`` and builtin calls such as ``print(`` count under the key ``"code"``.
  So the R1 failure "English, Chinese and Python" scores below 1 for every target language. Detection is a
  heuristic (a regex finds candidate lines, plain string tests decide), linear in the text length.

The script backend needs nothing: a language is its script(s) (``en``/``fr``/... -> Latin, ``zh`` -> Han, ``ja``
-> kana + Han, ``ko`` -> Hangul, ``ru`` -> Cyrillic, ``ar`` -> Arabic, ``hi`` -> Devanagari, ``el`` -> Greek), so it
cannot tell English from French. ``backend="langid"`` uses py3langid (``pip install minirl-grpo[langid]``,
offline) to label each sentence's words of each script, which separates same-script languages at the cost of
speed and some noise on short sentences. The default of the share and the reward, ``"auto"``, is the script
backend, except for a Latin-script target other than English, which gets py3langid choosing between the target
and English (so a French share is never silently the Latin share).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable, Sequence
from typing import Any

from rewards._text import column, completion_texts, extract_think, strip_tags

MIXED_BELOW = 0.95
"""A reasoning whose target-language share (:func:`target_language_share`) is below this counts as mixed-language.

The one threshold for the whole project: the curation ``language`` filter keeps traces at or above it, and the
mixed-language rates of training logs, evaluation and the language-mixing report count samples below it
(R1 gives no number)."""

# ---------------------------------------------------------------------------------------------------------------------
# Scripts

# Letter ranges per script (digits and punctuation inside the blocks are left out).
_RUN_SCRIPTS = {
    "latin": "A-Za-z\u00aa\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02af\u0300-\u036f\u1e00-\u1eff\uff21-\uff3a\uff41-\uff5a",
    "greek": "\u0370-\u037d\u037f-\u0386\u0388-\u03ff\u1f00-\u1fff",
    "cyrillic": "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f",
    "arabic": "\u0620-\u065f\u066e-\u06d3\u06d5-\u06ef\u06fa-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc",
    "devanagari": "\u0900-\u0963\u0971-\u097f\ua8e0-\ua8ff",
    "hangul": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",
}
_CHAR_SCRIPTS = {  # one word per character
    "han": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f",
    "kana": "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f",
}
_KNOWN = "".join(_RUN_SCRIPTS.values()) + "".join(_CHAR_SCRIPTS.values())
_RUNS = {name: re.compile(f"[{chars}]+") for name, chars in _RUN_SCRIPTS.items()}
_RUNS["other"] = re.compile(f"[^\\W\\d_{_KNOWN}]+")  # letters of any other script
_CHARS = {name: re.compile(f"[{chars}]+") for name, chars in _CHAR_SCRIPTS.items()}
_LATIN = _RUN_SCRIPTS["latin"]
_LONE_ASCII = re.compile(f"[A-Za-z](?<![{_LATIN}][A-Za-z])(?![{_LATIN}])")  # class first: fast skipping
SCRIPTS = (*_RUNS, *_CHARS)

_LATIN_LANGS = (
    "en fr de es it pt nl sv da no nb fi pl cs sk sl hr ro hu tr id ms vi tl sw ca eu gl et lv lt sq af"
)
LANGUAGE_SCRIPTS: dict[str, tuple[str, ...]] = {
    **{code: ("latin",) for code in _LATIN_LANGS.split()},
    **{code: ("cyrillic",) for code in ("ru", "uk", "bg", "be", "kk", "mk", "mn", "sr")},
    **{code: ("arabic",) for code in ("ar", "fa", "ur", "ps")},
    **{code: ("devanagari",) for code in ("hi", "mr", "ne")},
    "zh": ("han",),
    "ja": ("kana", "han"),
    "ko": ("hangul",),
    "el": ("greek",),
    **{script: (script,) for script in SCRIPTS},  # a script name works as a target too
}
"""Script backend: which scripts count as each target language."""

# ---------------------------------------------------------------------------------------------------------------------
# Code detection

_FENCE = "```"
_LATEX_CMD = re.compile(r"\\[A-Za-z]+")
# Candidate code lines: a Python keyword or an assignment at the start of a line. Every part is a single
# greedy class, so a line costs linear time; the decision is made by plain string tests in ``_is_code_line``.
_LINE = re.compile(
    r"^[ \t]*(?:(?P<kw>def|class|import|from|return|yield|raise|assert|print|for|while|if|elif|else|try|except"
    r"|finally|with)\b|(?P<prompt>>>>)|(?P<lhs>[A-Za-z_][\w.]*(?:\[[^\]\n]*\])?)[ \t]*(?P<op>[-+*/%]|//|\*\*)?="
    r"(?!=))[^\n]*",
    re.MULTILINE,
)
# Inline code, one pattern per trigger character. Each starts with a character class (lookbehinds come after the
# first character), so the regex engine skips non-candidate positions quickly; a pattern only runs when its
# trigger character occurs in the text.
_INLINE_PARTS = {
    "`": r"`[^`\n]+`",  # inline code span
    "_": r"[A-Za-z_](?<!\w\w)[A-Za-z0-9]*_\w*",  # snake_case identifier
    "(": r"[A-Za-z_](?<![\w.]\w)\w*(?:\.[A-Za-z_]\w*)*(?=\()",  # func( or module.func(: filtered below
}
_BUILTIN_NAMES = (
    "print range len sorted enumerate zip isinstance int str float list dict set abs min max sum round"
)
_BUILTINS = frozenset(_BUILTIN_NAMES.split())
_INLINE_CACHE: dict[tuple[str, ...], re.Pattern[str]] = {}


def _inline_pattern(triggers: tuple[str, ...]) -> re.Pattern[str]:
    if triggers not in _INLINE_CACHE:
        _INLINE_CACHE[triggers] = re.compile("|".join(_INLINE_PARTS[t] for t in triggers), re.ASCII)
    return _INLINE_CACHE[triggers]


def _is_inline_code(token: str) -> bool:
    """Backtick spans and snake_case are code; a call is code if dotted (``np.sum(``) or a builtin (``print(``)."""
    return token[0] == "`" or "_" in token or "." in token or token in _BUILTINS


_DEF = re.compile(r"(?:def|class)[ \t]+[A-Za-z_]\w*[ \t]*[(:]")
_IMPORT = re.compile(r"import[ \t]+[A-Za-z_][\w.]*[ \t]*(?:$|as[ \t]|,)|from[ \t]+[\w.]+[ \t]+import[ \t]")
_CALL = re.compile(r"[A-Za-z_][\w.]+\(")
_CONDITION_MARKS = ("==", "!=", "<", ">", "%", "(", " not ", " and ", " or ", " in ")


def _is_code_line(line: str, m: re.Match[str]) -> bool:
    """Decide whether a candidate line (matched by ``_LINE``) is Python."""
    s = line.strip()
    kw = m.group("kw")
    if m.group("prompt") or kw in ("return", "yield", "raise", "assert"):
        return True
    if kw in ("def", "class"):
        return _DEF.match(s) is not None
    if kw in ("import", "from"):
        return _IMPORT.match(s) is not None
    if kw == "print":
        return s[5:].lstrip().startswith("(")
    if kw in ("else", "try", "finally"):
        return s.replace(" ", "") in ("else:", "try:", "finally:")
    if kw is not None:  # for / while / if / elif / with / except: a block header ending with ':'
        if not s.endswith(":"):
            return False
        if kw == "for":
            return " in " in s
        if kw == "with":
            return " as " in s
        return kw == "except" or any(mark in s for mark in _CONDITION_MARKS)
    # An assignment: code if augmented, if the target is a_b / a.b / a[i], or if the value is a literal or call.
    lhs = m.group("lhs")
    if m.group("op") or any(ch in lhs for ch in "_.["):
        return True
    rhs = s.split("=", 1)[1].lstrip()
    return rhs[:1] in ("[", "{", '"', "'") or _CALL.match(rhs) is not None


def _split_code(text: str) -> tuple[str, str]:
    """``(prose, code)``: the text with the code cut out, and the code pieces joined by newlines."""
    prose_parts: list[str] = []
    code_parts: list[str] = []
    pos = 0
    while True:  # fenced blocks; an unclosed fence runs to the end
        start = text.find(_FENCE, pos)
        if start < 0:
            prose_parts.append(text[pos:])
            break
        prose_parts.append(text[pos:start])
        end = text.find(_FENCE, start + 3)
        stop = len(text) if end < 0 else end + 3
        code_parts.append(text[start:stop])
        pos = stop
    # LaTeX command names are math, not words; remove them before looking for code (``\sum_{i}``).
    prose = _LATEX_CMD.sub(" ", "\n".join(prose_parts))
    keep: list[str] = []
    pos = 0
    for m in _LINE.finditer(prose):
        if _is_code_line(m.group(), m):
            keep.append(prose[pos : m.start()])
            code_parts.append(m.group())
            pos = m.end()
    keep.append(prose[pos:])
    prose = "\n".join(keep)
    keep, pos = [], 0
    triggers = tuple(t for t in _INLINE_PARTS if t in prose)
    for m in _inline_pattern(triggers).finditer(prose) if triggers else ():
        if _is_inline_code(m.group()):
            keep.append(prose[pos : m.start()])
            code_parts.append(m.group())
            pos = m.end()
    keep.append(prose[pos:])
    return " ".join(keep), "\n".join(code_parts)


# ---------------------------------------------------------------------------------------------------------------------
# Counting


def _word_groups(text: str) -> dict[str, tuple[int, list[str]]]:
    """Per script: (number of words, the matched runs) in ``text``."""
    groups: dict[str, tuple[int, list[str]]] = {}
    if text.isascii():  # fast path for the common case: ASCII letters are all Latin
        runs = _RUNS["latin"].findall(text)
        n = len(runs) - len(_LONE_ASCII.findall(text))
        return {"latin": (n, runs)} if n else {}
    for script, pattern in _RUNS.items():
        runs = pattern.findall(text)
        n = len(runs) - (len(_LONE_ASCII.findall(text)) if script == "latin" and runs else 0)
        if n:
            groups[script] = (n, runs)
    for script, pattern in _CHARS.items():
        runs = pattern.findall(text)
        n = sum(map(len, runs))
        if n:
            groups[script] = (n, runs)
    return groups


_SENTENCE = re.compile(r"[.!?;。！？；\n]+")
MAX_LANGID_SEGMENTS = 64  # bounds the number of py3langid calls per text
MIN_SEGMENT_CHARS = 20
_IDENTIFIERS: dict[tuple[str, ...] | None, Callable[[str], str]] = {}


def _langid_classifier(candidates: tuple[str, ...] | None) -> Callable[[str], str]:
    """A ``text -> language code`` function from py3langid, optionally restricted to ``candidates``."""
    if candidates not in _IDENTIFIERS:
        if importlib.util.find_spec("py3langid") is None:
            raise ImportError("backend='langid' needs py3langid: pip install 'minirl-grpo[langid]'")
        langid = importlib.import_module("py3langid.langid")
        ident = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE)
        if candidates is not None:
            ident.set_languages(list(candidates))
        _IDENTIFIERS[candidates] = lambda s: ident.classify(s)[0]
    return _IDENTIFIERS[candidates]


def _langid_counts(prose: str, candidates: tuple[str, ...] | None) -> dict[str, int]:
    classify = _langid_classifier(candidates)
    # Sentences, merged with their successors up to MIN_SEGMENT_CHARS: langid guesses badly on a few words.
    segments: list[str] = []
    for sentence in _SENTENCE.split(prose):
        if segments and len(segments[-1]) < MIN_SEGMENT_CHARS:
            segments[-1] += " " + sentence
        elif sentence.strip():
            segments.append(sentence)
    if len(segments) > MAX_LANGID_SEGMENTS:  # merge neighbours so long texts cost a bounded number of calls
        size = -(-len(segments) // MAX_LANGID_SEGMENTS)
        segments = [" ".join(segments[i : i + size]) for i in range(0, len(segments), size)]
    counts: dict[str, int] = {}
    for segment in segments:
        for script, (n, runs) in _word_groups(segment).items():
            sep = "" if script in _CHARS else " "
            lang = classify(sep.join(runs))
            counts[lang] = counts.get(lang, 0) + n
    return counts


def _counts(text: str, backend: str, candidates: Sequence[str] | None) -> dict[str, int]:
    if not isinstance(text, str):
        return {}
    candidates = None if candidates is None else tuple(candidates)
    prose, code = _split_code(strip_tags(text))
    if backend == "langid":
        counts = _langid_counts(prose, candidates)
    else:
        counts = {script: n for script, (n, _) in _word_groups(prose).items()}
    n_code = sum(n for n, _ in _word_groups(code).values())
    if n_code:
        counts["code"] = n_code
    return counts


def _check_backend(backend: str) -> None:
    if backend not in ("script", "langid"):
        raise ValueError(f"language backend must be 'script' or 'langid', got {backend!r}")


def language_mix(
    text: str, backend: str = "script", candidates: Sequence[str] | None = None
) -> dict[str, float]:
    """The share of words per script (``backend="script"``) or language code (``"langid"``), and of ``"code"``.

    Shares sum to 1; ``{}`` when the text has no words. Format tags are ignored. See the module docstring for
    what a word is.

    >>> language_mix("Add 3 and 4 然后 print(x)")
    {'latin': 0.4, 'han': 0.4, 'code': 0.2}
    >>> language_mix("1 + 1 = 2")
    {}
    """
    _check_backend(backend)
    counts = _counts(text, backend, candidates)
    total = sum(counts.values())
    return {key: n / total for key, n in counts.items()} if total else {}


LATIN_TARGETS = frozenset(code for code in _LATIN_LANGS.split() if code != "en")
"""Latin-script languages other than English: the script backend cannot tell them from English."""


def resolve_backend(
    language: Any, backend: str, candidates: Sequence[str] | None = None
) -> tuple[str, tuple[str, ...] | None]:
    """The backend and candidates that measure ``language``: ``"auto"`` is the script backend, except for a
    Latin-script language other than English (fr, es, de, ...), which gets py3langid restricted to that language
    and English (``candidates`` override the pair). Other backends pass through.

    >>> resolve_backend("zh", "auto"), resolve_backend("fr", "auto"), resolve_backend("fr", "script")
    (('script', None), ('langid', ('fr', 'en')), ('script', None))
    """
    if backend != "auto":
        _check_backend(backend)
        return backend, None if candidates is None else tuple(candidates)
    if language in LATIN_TARGETS:
        return "langid", (language, "en") if candidates is None else tuple(candidates)
    return "script", None


def _check_language(language: Any, backend: str, candidates: Sequence[str] | None) -> str:
    if backend == "script" and (not isinstance(language, str) or language not in LANGUAGE_SCRIPTS):
        raise ValueError(
            f"language {language!r} is not supported by the script backend; use one of "
            f"{sorted(LANGUAGE_SCRIPTS)} or backend='langid'."
        )
    if backend == "langid" and (not isinstance(language, str) or (candidates and language not in candidates)):
        raise ValueError(f"language {language!r} must be a py3langid code in candidates={candidates}.")
    return language


def target_language_share(
    text: str, language: str = "en", backend: str = "auto", candidates: Sequence[str] | None = None
) -> float | None:
    """Num(words in ``language``) / Num(words) over ``text`` (R1's formula); ``None`` when there are no words.

    ``backend="auto"`` (default) counts scripts, except for Latin-script targets other than English, whose words
    py3langid labels as the target or English (:func:`resolve_backend`).

    >>> target_language_share("The sum is 7, 所以答案是 7")  # 3 English words, 5 Han characters
    0.375
    >>> target_language_share("所以答案是七", "zh")
    1.0
    """
    backend, candidates = resolve_backend(language, backend, candidates)
    _check_language(language, backend, candidates)
    counts = _counts(text, backend, candidates)
    total = sum(counts.values())
    if not total:
        return None
    targets = LANGUAGE_SCRIPTS[language] if backend == "script" else (language,)
    return sum(counts.get(key, 0) for key in targets) / total


def english_share(text: str, language: str) -> float | None:
    """The share of English words in a completion's reasoning, judged as :func:`target_language_share`
    judges ``language`` (py3langid choosing between ``language`` and English for Latin-script languages, scripts
    otherwise); ``None`` without words. For ``language="en"`` it is the target share itself.

    >>> english_share("<think>Wir addieren die beiden Zahlen jetzt. Then we add the two numbers.</think>", "de")
    0.5
    """
    backend, candidates = resolve_backend(language, "auto")
    think = extract_think(text)
    return target_language_share(think if think is not None else text, "en", backend, candidates)


class LanguageConsistencyReward:
    """R1's language-consistency reward: the target-language share of the reasoning words, in [0, 1].

    The reasoning is the think block (``extract_think``), or the whole completion when there is none. ``None``
    when it has no words at all (nothing to be consistent about).

    Args:
        language: the default target language (a code from ``LANGUAGE_SCRIPTS`` for the script backend).
        backend: ``"auto"`` (default: scripts, and py3langid between the target and English for Latin-script
            targets other than English, :func:`resolve_backend`), ``"script"`` (no dependency; cannot tell en
            from fr) or ``"langid"`` (py3langid for every target).
        candidates: langid only: restrict identification to these codes, e.g. ``("en", "fr")``.

    Call: ``reward(completions, language=None, **ignored)``; ``language`` may be a per-completion column (a
    list), a single code, or omitted for the default.

    >>> language_consistency_reward(["<think>Add 3 and 4.</think><answer>7</answer>",
    ...                              "<think>Add 3 and 4, 然后 print(x)</think><answer>7</answer>", "<answer>7</answer>"])
    [1.0, 0.4, None]
    >>> language_consistency_reward(["<think>三加四等于七</think>"], language="zh")
    [1.0]
    """

    def __init__(self, language: str = "en", backend: str = "auto", candidates: Sequence[str] | None = None):
        if backend != "auto":
            _check_backend(backend)
        self.backend = backend
        self.candidates = tuple(candidates) if candidates is not None else None
        resolved, resolved_candidates = resolve_backend(language, backend, self.candidates)
        self.language = _check_language(language, resolved, resolved_candidates)
        if resolved == "langid" and importlib.util.find_spec("py3langid") is None:
            raise ImportError("backend='langid' needs py3langid: pip install 'minirl-grpo[langid]'")
        self.__name__ = "language_consistency_reward"  # the name TRL logs under

    def __call__(self, completions: list, language: Any = None, **kwargs: Any) -> list[float | None]:
        texts = completion_texts(completions)
        languages = column(
            self.language if language is None else language, len(texts), "language", self.__name__
        )
        out: list[float | None] = []
        for row, (text, lang) in enumerate(zip(texts, languages)):
            try:
                lang = _check_language(lang, *resolve_backend(lang, self.backend, self.candidates))
            except ValueError as err:
                raise ValueError(f"{self.__name__}, row {row}: {err}") from None
            think = extract_think(text)
            out.append(
                target_language_share(
                    think if think is not None else text, lang, self.backend, self.candidates
                )
            )
        return out

    def __repr__(self) -> str:
        return f"LanguageConsistencyReward(language={self.language!r}, backend={self.backend!r})"


language_consistency_reward = LanguageConsistencyReward()
