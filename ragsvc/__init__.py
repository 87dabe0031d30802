"""ragsvc: help-desk question answering that routes each question to the cheapest good path."""

__version__ = "0.1.0"
