"""Curation filters for cold-start data (R1: drop mixed-language and unreadable traces)."""

from minirl.curation.filters import (
    DEFAULT_FILTERS,
    CurationReport,
    NearDuplicateFilter,
    curate,
    default_filters,
    keep_correct,
    keep_format,
    keep_language,
    keep_length,
    keep_no_repetition,
    normalize_text,
    repeated_share,
    shingles,
)

__all__ = [
    "DEFAULT_FILTERS",
    "CurationReport",
    "NearDuplicateFilter",
    "curate",
    "default_filters",
    "keep_correct",
    "keep_format",
    "keep_language",
    "keep_length",
    "keep_no_repetition",
    "normalize_text",
    "repeated_share",
    "shingles",
]
