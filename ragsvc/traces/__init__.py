"""Per-query routing traces: what was decided and why, what it cost, how long each step took."""
