"""Offline evaluation: labelled questions, the answers each routing policy gives them, the scores.

``datasets`` reads the public sets, ``mix`` builds the labelled help-desk mix and its corpus from
them, ``metrics`` holds the answer metrics (SQuAD-style F1 and containment, English and Japanese).
"""
