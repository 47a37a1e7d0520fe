"""Stage 2 of the R1 pipeline, curation: filters for cold-start and rejection-sampled data (R1, sec. 2.3.1, 2.3.3).

R1's cold start "filters out responses that are not reader-friendly" and, for rejection sampling, "filtered
out chain-of-thought with mixed languages, long paragraphs, and code blocks". The paper gives no thresholds or
code; here each criterion is one small, testable filter, applied in order by :func:`curate`:

========================  ======================================================================================
``language``              ``rewards.language_consistency_reward`` of the think block >= ``threshold``
                          (``rewards.MIXED_BELOW``, 0.95); Python in the reasoning counts as non-target
                          words, so code traces drop here too
``format``                ``rewards.format_reward == 1`` on the completion as RL samples it (after ``<think>``)
``correct``               the task's accuracy reward is 1 (``minirl.tasks.correctness``; countdown's for countdown)
``length``                whitespace words and characters of the completion within bounds
``repetition``            share of repeated word n-grams below ``max_repeated`` (``rewards.RepetitionPenalty``)
``near_duplicate``        MinHash/LSH over character 5-grams, verified by exact Jaccard against kept records
========================  ======================================================================================

A record is a dict with at least ``"completion"`` (text after the prompt's ``<think>``) and its gold columns
(``"answer"``, or ``"nums"`` and ``"target"``) and ``"task"``: a :class:`minirl.r1.records.Trace`, as
:mod:`minirl.r1.s1_pool` and :mod:`minirl.r1.s5_rejection` make them.
Every filter is ``f(record) -> bool`` (True = keep); settings are keyword arguments, bound with
``functools.partial`` or the small classes below.

Why our own MinHash/LSH and not ``datasketch``: on the R1 recipe's pool (``python benchmarks/near_dup.py``)
``datasketch``'s ``MinHash`` + ``MinHashLSH`` with the same shingles, bands and exact-Jaccard check dropped the same
records but took more CPU time per record and pulls in scipy; the measurements: docs/cold_start_data.md, section
Curation.

Note: the near-duplicate filter is the only stateful one. It remembers records through ``add`` and
:func:`curate` calls ``add`` only for records every filter kept, so the filter order does not matter.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

import rewards
from minirl.tasks import correctness, task_class

Record = Mapping[str, Any]
FilterFn = Callable[[Record], bool]


def _completion(record: Record) -> str:
    text = record.get("completion") if isinstance(record, Mapping) else None
    if not isinstance(text, str):
        raise ValueError(
            f"curation: a record needs a string 'completion', got {type(text).__name__} in record "
            f"{_describe(record)}; build records with minirl.r1.s1_pool or give each one a completion."
        )
    return text


def _describe(record: Any) -> str:
    if not isinstance(record, Mapping):
        return repr(record)[:80]
    question = str(record.get("prompt_question", ""))[:60]
    return f"(task={record.get('task')!r}, question={question!r})"


# ---------------------------------------------------------------------------------------------------------------------
# Stateless filters


def keep_language(
    record: Record,
    *,
    threshold: float = rewards.MIXED_BELOW,
    language: str = "en",
    keep_wordless: bool = True,
) -> bool:
    """Keep when at least ``threshold`` of the reasoning's words are in ``language`` (code counts against).

    A reasoning with no words at all (``3+4=7``) has nothing to mix and is kept unless ``keep_wordless=False``.

    >>> keep_language({"completion": "Add 3 and 4 to get 7.\\n</think>\\n<answer>7</answer>"})
    True
    >>> keep_language({"completion": "Add 3 and 4, 所以是 7.\\n</think>\\n<answer>7</answer>"})
    False
    """
    share = rewards.language_consistency_reward([_completion(record)], language=language)[0]
    return keep_wordless if share is None else share >= threshold


def keep_format(record: Record) -> bool:
    """Keep when ``rewards.format_reward`` is 1: reasoning, one ``</think>``, then one answer block, nothing after.

    >>> keep_format({"completion": "Add.\\n</think>\\n<answer>7</answer>"})
    True
    >>> keep_format({"completion": "Add.\\n<answer>7</answer>"})
    False
    """
    return rewards.format_reward([_completion(record)])[0] == 1.0


def keep_correct(record: Record) -> bool:
    """Keep when the record's answer is right (:func:`minirl.tasks.correctness` under its task's accuracy reward).

    Raises ``ValueError`` when the record's gold columns are missing or unusable (a data bug, not a bad trace).

    >>> keep_correct({"task": "arithmetic", "answer": "7", "completion": "3+4.\\n</think>\\n<answer>7</answer>"})
    True
    >>> keep_correct({"task": "countdown", "nums": [2, 5], "target": 10, "completion": "<answer>2+5</answer>"})
    False
    """
    text = _completion(record)
    task = task_class(record.get("task"))
    missing = [c for c in task.gold_columns if c not in record]
    if missing:
        raise ValueError(
            f"curation: record {_describe(record)} needs the gold {' and '.join(map(repr, task.gold_columns))}."
        )
    value = correctness(task.accuracy_reward, [text], **{c: [record[c]] for c in task.gold_columns})[0]
    if value is None:
        raise ValueError(f"curation: the gold columns of record {_describe(record)} cannot be parsed.")
    return value == 1.0


def keep_length(
    record: Record, *, min_words: int = 3, max_words: int = 400, min_chars: int = 0, max_chars: int = 4000
) -> bool:
    """Keep when the completion has ``min_words..max_words`` whitespace words and ``min_chars..max_chars`` chars.

    Chinese has no spaces, so a Chinese sentence is one "word": bound characters too for non-spaced text.

    >>> keep_length({"completion": "Add 3 and 4."}), keep_length({"completion": "7"})
    (True, False)
    """
    text = _completion(record)
    return min_words <= len(text.split()) <= max_words and min_chars <= len(text) <= max_chars


def repeated_share(text: str, n: int = 3) -> float:
    """Share of repeated word n-grams, ``1 - unique/total`` (0 = none, towards 1 = a loop); 0 when too short.

    >>> repeated_share("the cat sat on the mat"), repeated_share("go go go go go go")
    (0.0, 0.75)
    """
    return abs(rewards.RepetitionPenalty(n=n, max_penalty=1.0).penalty(text.lower().split()))


def keep_no_repetition(record: Record, *, n: int = 3, max_repeated: float = 0.4) -> bool:
    """Keep when fewer than ``max_repeated`` of the completion's word ``n``-grams are repeats.

    >>> keep_no_repetition({"completion": "Add 3 and 4 to get 7."})
    True
    >>> keep_no_repetition({"completion": "Wait, let me check. " * 10})
    False
    """
    return repeated_share(_completion(record), n) < max_repeated


# ---------------------------------------------------------------------------------------------------------------------
# Near duplicates

_PRIME = (1 << 31) - 1  # a * h + b stays below 2**63, so numpy int64 never overflows
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Lowercase, collapse whitespace: the text near-duplicate detection compares.

    >>> normalize_text("  Add 3\\n\\nand 4 ")
    'add 3 and 4'
    """
    return _SPACES.sub(" ", text.lower()).strip()


def shingles(text: str, k: int = 5) -> set[str]:
    """The set of character ``k``-grams of ``normalize_text(text)`` (the whole text when shorter than ``k``).

    >>> sorted(shingles("abcdef", k=5))
    ['abcde', 'bcdef']
    """
    t = normalize_text(text)
    return {t[i : i + k] for i in range(max(len(t) - k + 1, 1))}


def _stable_hash(s: str) -> int:
    # Python's hash() of a str changes between processes; blake2b keeps runs reproducible.
    digest = hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class NearDuplicateFilter:
    """Drop a record whose text has char-5-gram Jaccard similarity >= ``threshold`` with a record already kept.

    Candidates come from MinHash with LSH banding (``bands`` x ``rows`` hashes; a pair with similarity s collides
    in some band with probability ``1 - (1 - s^rows)^bands``, 0.99 at s = 0.9 and 0.03 at s = 0.5 with the defaults), and each
    candidate is verified with the exact Jaccard, so there are no false drops and the cost per record is constant
    in expectation: O(n) over a dataset. ``threshold >= 1`` compares normalized texts exactly (one hash lookup).

    Args:
        threshold: Jaccard similarity at or above which a record is a duplicate.
        key: which fields make the text: the question and the completion by default, so the same reasoning for
            two different problems is not a duplicate.
        k: shingle size in characters.
        bands, rows: LSH banding.

    ``filter(record)`` checks, ``filter.add(record)`` remembers a kept record, ``filter.reset()`` forgets all.

    >>> dedup = NearDuplicateFilter()
    >>> first = {"prompt_question": "3+4?", "completion": "Add 3 and 4 to get 7, so the answer is 7."}
    >>> dedup(first)
    True
    >>> dedup.add(first)
    >>> dedup({"prompt_question": "3+4?", "completion": "Add 3 and 4 to get 7,  so the answer is 7!"})
    False
    """

    name = "near_duplicate"

    def __init__(
        self,
        threshold: float = 0.9,
        key: tuple[str, ...] = ("prompt_question", "completion"),
        k: int = 5,
        bands: int = 8,
        rows: int = 8,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"NearDuplicateFilter: threshold must be in (0, 1], got {threshold}")
        if k < 1 or bands < 1 or rows < 1:
            raise ValueError(
                f"NearDuplicateFilter: k, bands and rows must be >= 1, got {k=}, {bands=}, {rows=}"
            )
        self.threshold = threshold
        self.key = tuple(key)
        self.k = k
        self.bands = bands
        self.rows = rows
        # Fixed hash family (a * h + b mod p), so a run is reproducible across processes.
        n = bands * rows
        a = [_stable_hash(f"a{i}") % (_PRIME - 1) + 1 for i in range(n)]
        b = [_stable_hash(f"b{i}") % _PRIME for i in range(n)]
        self._a = np.array(a, dtype=np.int64)[:, None]  # [bands * rows, 1]
        self._b = np.array(b, dtype=np.int64)[:, None]  # [bands * rows, 1]
        self.reset()

    def reset(self) -> None:
        """Forget every remembered record."""
        self._buckets: dict[tuple[int, ...], list[int]] = {}
        self._kept: list[set[str]] = []
        self._exact: set[str] = set()

    def _text(self, record: Record) -> str:
        _completion(record)  # validates the record
        return "\n".join(str(record.get(name, "")) for name in self.key)

    def _bands(self, grams: set[str]) -> list[tuple[int, ...]]:
        hashes = np.array([_stable_hash(g) % _PRIME for g in grams], dtype=np.int64)[None, :]  # [1, S]
        sig = ((self._a * hashes + self._b) % _PRIME).min(axis=1).tolist()  # [bands * rows]
        return [(i, *sig[i * self.rows : (i + 1) * self.rows]) for i in range(self.bands)]

    def __call__(self, record: Record) -> bool:
        text = self._text(record)
        if self.threshold >= 1:
            return normalize_text(text) not in self._exact
        grams = shingles(text, self.k)
        seen: set[int] = set()
        for band in self._bands(grams):
            for idx in self._buckets.get(band, ()):
                if idx in seen:
                    continue
                seen.add(idx)
                other = self._kept[idx]
                if len(grams & other) / len(grams | other) >= self.threshold:
                    return False
        return True

    def add(self, record: Record) -> None:
        """Remember ``record`` as kept: later records too similar to it are dropped."""
        text = self._text(record)
        if self.threshold >= 1:
            self._exact.add(normalize_text(text))
            return
        grams = shingles(text, self.k)
        self._kept.append(grams)
        for band in self._bands(grams):
            self._buckets.setdefault(band, []).append(len(self._kept) - 1)

    def __repr__(self) -> str:
        return f"NearDuplicateFilter(threshold={self.threshold}, key={self.key})"


# ---------------------------------------------------------------------------------------------------------------------
# Curation


@dataclass
class CurationReport:
    """What :func:`curate` did: records in, records kept, and per filter (in order) how many it saw and dropped.

    Each dropped record is counted once, under the first filter that rejected it, so
    ``total == kept + sum(dropped.values())`` and ``seen[i + 1] == seen[i] - dropped[i]``.
    """

    total: int = 0
    kept: int = 0
    filters: list[str] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    dropped_by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per filter, dropped counts per record ``kind`` (when records carry one, as the synthetic pools do)."""

    @property
    def kept_share(self) -> float:
        """Share of records kept (0 for an empty input)."""
        return self.kept / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "total": self.total,
            "kept": self.kept,
            "kept_share": self.kept_share,
            "filters": [
                {
                    "name": name,
                    "seen": self.seen[name],
                    "dropped": self.dropped[name],
                    "dropped_by_kind": dict(self.dropped_by_kind.get(name, {})),
                }
                for name in self.filters
            ],
        }

    def to_markdown(self) -> str:
        """A markdown table: one row per filter in the order applied, then the total kept.

        >>> print(curate([{"completion": "x", "kind": "clean"}], [("length", keep_length)])[1].to_markdown())
        | filter | seen | dropped | dropped by kind |
        |---|---:|---:|---|
        | length | 1 | 1 | clean: 1 |
        | **kept** | 1 | **0** (0.0%) | |
        """
        lines = ["| filter | seen | dropped | dropped by kind |", "|---|---:|---:|---|"]
        for name in self.filters:
            kinds = ", ".join(f"{k}: {v}" for k, v in sorted(self.dropped_by_kind.get(name, {}).items()))
            lines.append(f"| {name} | {self.seen[name]} | {self.dropped[name]} | {kinds} |")
        lines.append(f"| **kept** | {self.total} | **{self.kept}** ({100 * self.kept_share:.1f}%) | |")
        return "\n".join(lines)


def _filter_name(f: Any) -> str:
    if isinstance(f, partial):
        f = f.func
    name = getattr(f, "name", None) or getattr(f, "__name__", None) or type(f).__name__
    return name.removeprefix("keep_")


def default_filters(
    *,
    language: str = "en",
    language_threshold: float = rewards.MIXED_BELOW,
    min_words: int = 3,
    max_words: int = 400,
    max_chars: int = 4000,
    repetition_n: int = 3,
    max_repeated: float = 0.4,
    duplicate_threshold: float = 0.9,
) -> list[tuple[str, FilterFn]]:
    """A fresh list of the standard filters as ``(name, filter)`` pairs, in the order :func:`curate` applies them.

    >>> [name for name, _ in default_filters()]
    ['language', 'format', 'correct', 'length', 'repetition', 'near_duplicate']
    """
    return [
        ("language", partial(keep_language, threshold=language_threshold, language=language)),
        ("format", keep_format),
        ("correct", keep_correct),
        ("length", partial(keep_length, min_words=min_words, max_words=max_words, max_chars=max_chars)),
        ("repetition", partial(keep_no_repetition, n=repetition_n, max_repeated=max_repeated)),
        ("near_duplicate", NearDuplicateFilter(threshold=duplicate_threshold)),
    ]


DEFAULT_FILTERS: tuple[tuple[str, FilterFn], ...] = tuple(default_filters())
"""The standard filters with default settings (``curate`` resets the duplicate filter's memory on each call)."""


def _named(filters: Iterable[FilterFn | tuple[str, FilterFn]]) -> list[tuple[str, FilterFn]]:
    out = []
    for i, item in enumerate(filters):
        name, fn = item if isinstance(item, tuple) else (_filter_name(item), item)
        if not callable(fn):
            raise TypeError(f"curate: filter #{i} ({name!r}) is not callable: {fn!r}")
        out.append((name, fn))
    names = [name for name, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"curate: filter names must be unique, got {names}; pass (name, filter) pairs.")
    return out


def curate(
    records: Sequence[Record], filters: Iterable[FilterFn | tuple[str, FilterFn]] = DEFAULT_FILTERS
) -> tuple[list[Record], CurationReport]:
    """Apply ``filters`` in order; a record is kept when every filter keeps it.

    Args:
        records: dicts with ``"completion"`` and gold columns (see the module docstring).
        filters: ``(name, fn)`` pairs or bare functions (named after the function, without ``keep_``).
            Filters with ``reset``/``add`` methods (near duplicates) are reset first and told of each kept record.

    Returns:
        ``(kept, report)``: the kept records in input order and a :class:`CurationReport`.

    >>> good = {"task": "arithmetic", "answer": "7", "completion": "Add 3 and 4 to get 7.\\n</think>\\n<answer>7</answer>"}
    >>> mixed = dict(good, completion="Add 3 and 4, 所以是 7.\\n</think>\\n<answer>7</answer>")
    >>> kept, report = curate([good, mixed, dict(good)])
    >>> len(kept), report.dropped["language"], report.dropped["near_duplicate"]
    (1, 1, 1)
    """
    named = _named(filters)
    for _, fn in named:
        if hasattr(fn, "reset"):
            fn.reset()
    report = CurationReport(total=len(records), filters=[name for name, _ in named])
    report.seen = dict.fromkeys(report.filters, 0)
    report.dropped = dict.fromkeys(report.filters, 0)
    kept: list[Record] = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping) or not isinstance(record.get("completion"), str):
            raise ValueError(
                f"curate: record #{i} must be a dict with a string 'completion', got {_describe(record)}"
            )
        for name, fn in named:
            report.seen[name] += 1
            if not fn(record):
                report.dropped[name] += 1
                kind = str(record.get("kind", "unknown"))
                by_kind = report.dropped_by_kind.setdefault(name, {})
                by_kind[kind] = by_kind.get(kind, 0) + 1
                break
        else:
            kept.append(record)
            for _, fn in named:
                if hasattr(fn, "add"):
                    fn.add(record)
    report.kept = len(kept)
    return kept, report
