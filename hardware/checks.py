"""A pass / fail / unknown finding, shared by ``edge doctor`` and the pre-flight checks.

Example:
    >>> Check("gps fix", None, "no GPS_RAW_INT yet").status
    'WARN'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Check:
    """One finding: ``ok`` True (pass), False (fail) or None (unknown: a warning, never a pass)."""

    name: str
    ok: bool | None
    detail: str

    @property
    def status(self) -> str:
        return {True: "PASS", False: "FAIL", None: "WARN"}[self.ok]

    def line(self) -> str:
        """``PASS name: detail`` for terminal output."""
        return f"{self.status} {self.name}: {self.detail}"
