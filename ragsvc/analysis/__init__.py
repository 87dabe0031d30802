"""Query analysis: what kind of question this is, and its parts (fast classifier -> SLM -> rules)."""
