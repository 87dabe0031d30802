"""The domain's exceptions: one base class, so the CLI and the HTTP layer map them in one place."""


class RagsvcError(Exception):
    """Base class for every error ragsvc raises on purpose; the message says how to fix it."""


class ConfigError(RagsvcError):
    """A setting, a model reference or a store is not usable as configured."""


class IndexSchemaError(ConfigError):
    """The Qdrant collection was written by an incompatible version of the indexer."""


class InvalidRequestError(RagsvcError):
    """The caller sent something unusable (an empty or over-long question, a bad filter)."""


class NotFoundError(RagsvcError):
    """The thing asked for (a trace, an ingest job) does not exist."""
