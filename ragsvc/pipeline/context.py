"""The caller's context (a department, a product, a tenant) narrowed into retrieval filters.

An ask may say who asks from where (``"context": {"department": "hr"}``);
``routing.context_filters`` maps each field's values to tags, and the search then returns only
chunks with one of the value's tags (one group per field: a chunk must match every field given).
A field or value the configuration does not name is refused: a context that silently narrowed
nothing would show a tenant another tenant's documents.
"""

from __future__ import annotations

from collections.abc import Mapping

from ragsvc.errors import InvalidRequestError

ContextFilters = Mapping[str, Mapping[str, list[str]]]


def context_tags(
    context: tuple[tuple[str, str], ...], filters: ContextFilters
) -> tuple[tuple[str, ...], ...]:
    """The tag groups ``context`` narrows retrieval to; InvalidRequestError for a field or a
    value ``filters`` does not configure."""
    groups = []
    for field, value in context:
        values = filters.get(field)
        if values is None:
            known = ", ".join(sorted(filters)) or "none are configured"
            raise InvalidRequestError(
                f"unknown context field {field[:64]!r}; the fields are: {known} "
                "(routing.context_filters)"
            )
        tags = values.get(value)
        if tags is None:
            raise InvalidRequestError(
                f"unknown {field} {value[:64]!r}; one of: {', '.join(sorted(values))} "
                f"(routing.context_filters.{field})"
            )
        groups.append(tuple(tags))
    return tuple(groups)
