"""Curation filters for cold-start data (R1: drop mixed-language and unreadable traces)."""
