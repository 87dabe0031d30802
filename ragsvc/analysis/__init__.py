"""Query analysis: the kind of question and its parts (fast classifier -> SLM -> rules)."""
