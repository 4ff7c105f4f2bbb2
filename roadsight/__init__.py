"""roadsight: the CLI and the wiring of the stages (capture -> detect -> geo -> stream)."""

from __future__ import annotations

__version__ = "0.1.0"
