"""Errors raised by the stream stage."""

from __future__ import annotations


class SchemaError(ValueError):
    """A wire message (or an event about to be sent) that breaks the schema.

    The message names the offending key (dotted path such as
    ``evidence.0.sha256``) and the reason, e.g. ``geo-event v1: key 'score':
    Input should be less than or equal to 1``.
    """


class StreamError(RuntimeError):
    """The message transport failed: broker unreachable, delivery timed out,
    or fewer messages arrived than expected. The message names the bootstrap
    address and topic so the operator knows where to look."""


class OversizedMessageError(SchemaError):
    """A wire message longer than the size limit (checked before any parsing)."""


class MalformedMessageError(SchemaError):
    """A wire message that is not a UTF-8 JSON object (bad bytes, bad JSON, too deeply nested)."""


class UnsupportedVersionError(SchemaError):
    """A wire message of another schema family, or a version this reader does not know."""


class StoreError(ValueError):
    """An event store that cannot be opened or used; the message names the file or database."""


class StoreUnavailableError(StoreError):
    """The store's server could not be reached or dropped the connection: retry later, the data is fine."""
