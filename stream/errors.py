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
