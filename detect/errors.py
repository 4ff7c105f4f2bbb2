"""The detect stage's error type."""

from __future__ import annotations


class DetectError(ValueError):
    """A model file, its metadata or an input frame that the detector cannot use.

    The message names the file (or the frame index) and the offending key.
    """
