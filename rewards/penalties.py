r"""Length and repetition penalties: negative rewards that shape a completion without judging its answer.

``OverlongPenalty`` is DAPO's soft overlong punishment (Yu et al. 2025, eq. 13), with :math:`|y|` the
completion length, :math:`L_{max}` the maximum and :math:`L_{cache}` the punishment buffer:

    R(y) = 0                                      if |y| <= L_max - L_cache
    R(y) = ((L_max - L_cache) - |y|) / L_cache    if L_max - L_cache < |y| <= L_max
    R(y) = -1                                     if L_max < |y|

Lengths are token counts from the ``completion_ids`` keyword (TRL and our trainer pass it). Departure: without
token ids the length is estimated from text as ``ceil(len(text) / chars_per_token)`` characters (default 4,
a rough average for English BPE), so a plain loop can use the penalty too.

``RepetitionPenalty`` punishes repeated n-grams, as in open R1 reproductions (not in the R1 paper):
``-max_penalty * (1 - unique_ngrams / total_ngrams)``, in ``[-max_penalty, 0]``, over lowercased
whitespace-separated words by default or over token ids with ``unit="tokens"``; any finite scale, of either sign
(open-r1 writes it negative), equal to open-r1's ``repetition_penalty_reward`` on words.
"""

from __future__ import annotations

import math
from collections.abc import Sized
from typing import Any

from rewards._text import completion_texts


def _as_list(ids: Any) -> list[Any]:
    """Token ids as a plain list (a tensor's elements would hash by identity, not value)."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    return list(ids) if isinstance(ids, Sized) else []


class OverlongPenalty:
    """DAPO soft overlong punishment: 0 up to ``max_length - cache_length`` tokens, then linearly down to -1
    at ``max_length``, and -1 beyond.

    Args:
        max_length: L_max, normally your ``max_completion_length``.
        cache_length: L_cache, the width of the soft buffer (0 gives a hard -1 beyond ``max_length``).
        chars_per_token: the characters-per-token estimate used when ``completion_ids`` is not passed.

    >>> penalty = OverlongPenalty(max_length=100, cache_length=20)
    >>> penalty(["", "", "", ""], completion_ids=[[1] * 80, [1] * 90, [1] * 100, [1] * 101])
    [0.0, -0.5, -1.0, -1.0]
    >>> penalty(["x" * 360])  # no token ids: 360 characters ~ 90 tokens
    [-0.5]
    """

    def __init__(self, max_length: int = 512, cache_length: int = 128, chars_per_token: float = 4.0) -> None:
        if not 0 <= cache_length <= max_length:
            raise ValueError(f"need 0 <= cache_length <= max_length, got {cache_length=} and {max_length=}")
        if not chars_per_token > 0:
            raise ValueError(f"chars_per_token must be > 0, got {chars_per_token}")
        self.max_length = max_length
        self.cache_length = cache_length
        self.chars_per_token = chars_per_token
        self.__name__ = "overlong_penalty"  # the name TRL logs under

    def penalty(self, length: int) -> float:
        """The reward for a completion of ``length`` tokens."""
        soft_start = self.max_length - self.cache_length
        if length <= soft_start:
            return 0.0
        if length <= self.max_length:
            return (soft_start - length) / self.cache_length
        return -1.0

    def __call__(self, completions: list, completion_ids: Any = None, **kwargs: Any) -> list[float]:
        texts = completion_texts(completions)
        if completion_ids is not None and len(completion_ids) != len(texts):
            raise ValueError(
                f"overlong_penalty: {len(completion_ids)} completion_ids for {len(texts)} completions."
            )
        out = []
        for i, text in enumerate(texts):
            ids = completion_ids[i] if completion_ids is not None else None
            if isinstance(ids, Sized):
                length = len(ids)
            else:
                length = math.ceil(len(text) / self.chars_per_token)
            out.append(self.penalty(length))
        return out

    def __repr__(self) -> str:
        return f"OverlongPenalty(max_length={self.max_length}, cache_length={self.cache_length})"


class RepetitionPenalty:
    """``-max_penalty * (1 - unique n-grams / total n-grams)``: 0 for no repetition, towards ``-max_penalty``
    for a loop. Completions shorter than ``n`` units get 0.

    Args:
        n: n-gram size.
        max_penalty: the magnitude of the worst penalty, any finite scale: the reward lies in
            ``[-|max_penalty|, 0]``. open-r1's ``get_repetition_penalty_reward(ngram_size, max_penalty=-1.0)`` writes
            the scale negative; either sign gives the same penalty, so its configs port as they are.
        unit: ``"words"`` (lowercased, whitespace-separated; works everywhere) or ``"tokens"`` (the
            ``completion_ids`` keyword, required then).

    >>> repetition_penalty(["the cat sat on the mat", "go go go go go go"])
    [0.0, -0.75]
    """

    def __init__(self, n: int = 3, max_penalty: float = 1.0, unit: str = "words") -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not math.isfinite(max_penalty):
            raise ValueError(f"max_penalty must be a finite number, got {max_penalty}")
        if unit not in ("words", "tokens"):
            raise ValueError(f"unit must be 'words' or 'tokens', got {unit!r}")
        self.n = n
        self.max_penalty = abs(max_penalty)  # open-r1 writes the scale negative (-1.0); the same penalty
        self.unit = unit
        self.__name__ = "repetition_penalty"  # the name TRL logs under

    def penalty(self, units: list[Any]) -> float:
        """The reward for one sequence of units (words or token ids)."""
        if len(units) < self.n:
            return 0.0
        total = len(units) - self.n + 1
        repeated = 1.0 - len(set(zip(*(units[i:] for i in range(self.n))))) / total
        return -self.max_penalty * repeated if repeated else 0.0

    def __call__(self, completions: list, completion_ids: Any = None, **kwargs: Any) -> list[float]:
        texts = completion_texts(completions)
        if self.unit == "words":
            return [self.penalty(text.lower().split()) for text in texts]
        if completion_ids is None or len(completion_ids) != len(texts):
            raise ValueError(
                "repetition_penalty(unit='tokens') needs completion_ids, one list per completion."
            )
        return [self.penalty(_as_list(ids)) for ids in completion_ids]

    def __repr__(self) -> str:
        return f"RepetitionPenalty(n={self.n}, max_penalty={self.max_penalty}, unit={self.unit!r})"


overlong_penalty = OverlongPenalty()
repetition_penalty = RepetitionPenalty()
