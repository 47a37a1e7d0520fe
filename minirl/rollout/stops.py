"""Stop strings found from token ids, without decoding every row at every step.

A row stops once its text contains a stop string (``</answer>``). The text is only known after decoding, and
decoding every active row at every step costs a ``tokenizer.decode`` per row per step. A stop string can only
*appear* at the step whose new token supplies its last character, so :class:`StopMatcher` keeps, per tokenizer, the
set of vocabulary ids whose text contains one of those last characters, and decodes the tail of a row only when its
new token is one of them. The tail decoded is long enough for the longest stop string (each token but special or
partial-byte ones adds at least one character), so a stop string of any token count is seen.

A stop string that ends in whitespace would be missed by tokenizers that drop a piece's leading space when it is
decoded alone (SentencePiece): then every row is checked at every step, as before.
"""

from __future__ import annotations

import torch

_VOCAB_TEXT: dict[tuple[int, int], list[str]] = {}
"""Per tokenizer (``id``, vocabulary size): the text of each token decoded alone, computed once."""


def _token_texts(tokenizer) -> list[str]:
    key = (id(tokenizer), len(tokenizer))
    if key not in _VOCAB_TEXT:
        _VOCAB_TEXT[key] = tokenizer.batch_decode(
            [[i] for i in range(len(tokenizer))], skip_special_tokens=False
        )
    return _VOCAB_TEXT[key]


class StopMatcher:
    """Which rows of a decode batch have just completed a stop string.

    Args:
        tokenizer: the tokenizer that decodes the rows.
        stop_strings: strings that end a row once its text contains one.
        device: where the candidate mask lives (the sampled tokens' device).

    >>> from minirl.testing import make_tiny_tokenizer
    >>> tok = make_tiny_tokenizer()
    >>> ids = tok("so 42</answer>", add_special_tokens=False).input_ids
    >>> StopMatcher(tok, ("</answer>",)).hits(torch.tensor([ids]), torch.tensor([ids[-1]]))
    [True]
    """

    def __init__(self, tokenizer, stop_strings: tuple[str, ...], device: torch.device | str = "cpu"):
        self.tokenizer = tokenizer
        self.stop_strings = tuple(s for s in stop_strings if s)
        self.tail = max((len(s) for s in self.stop_strings), default=0) + 4  # tokens decoded per check
        self.candidates: torch.Tensor | None = None  # [V] bool; None = check every row
        if self.stop_strings and not any(s[-1].isspace() for s in self.stop_strings):
            last = {s[-1] for s in self.stop_strings}
            texts = _token_texts(tokenizer)
            mask = torch.tensor([any(ch in t for ch in last) for t in texts], dtype=torch.bool)  # [V]
            self.candidates = mask.to(device)

    def hits(
        self, rows: torch.Tensor, new_tokens: torch.Tensor, only: torch.Tensor | None = None
    ) -> list[bool]:
        """For each row whether its text now contains a stop string.

        Args:
            rows: ``[n, t]`` the rows' ids so far, the newest last (only candidate rows' tails are decoded).
            new_tokens: ``[n]`` the token each row sampled this step (the last column of ``rows``).
            only: ``[n]`` bool, the rows to look at (others are reported False).
        """
        n = new_tokens.shape[0]
        if not self.stop_strings:
            return [False] * n
        look = torch.ones(n, dtype=torch.bool, device=new_tokens.device) if only is None else only
        if self.candidates is not None:
            vocab = self.candidates.shape[0]
            look = look & self.candidates[new_tokens.clamp(0, vocab - 1)]
        check = look.nonzero(as_tuple=True)[0].tolist()
        out = [False] * n
        for j in check:
            tail = self.tokenizer.decode(rows[j, -self.tail :].tolist(), skip_special_tokens=False)
            out[j] = any(s in tail for s in self.stop_strings)
        return out
