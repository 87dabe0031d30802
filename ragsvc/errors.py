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


class ServiceUnavailableError(RagsvcError):
    """A part the answer cannot do without (the embedder, the store) failed; 503, retry later.
    ``trace_id`` names the trace that records the failure, when one was written."""

    def __init__(self, message: str, trace_id: str | None = None, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.trace_id = trace_id
        self.retry_after_s = retry_after_s


class FeedbackLimitError(InvalidRequestError):
    """A trace already has as much feedback as one trace takes; 409, the cap does not lift."""


class ConflictError(InvalidRequestError):
    """The request conflicts with the current state (a rollback with nothing promoted); 409."""


class TraceStoreUnavailableError(RagsvcError):
    """The trace database cannot be read or written just now (locked past the busy timeout, disk
    full, unreadable); 503, retry later. Answers are not affected: new traces wait in memory."""
