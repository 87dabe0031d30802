"""Thin HTTP controllers: each handler validates, calls the runtime, returns a schema."""
