"""Rule-based rewards (placeholder; being written)."""
