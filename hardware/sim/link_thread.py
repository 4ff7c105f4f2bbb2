"""The lifecycle shared by the simulator's MAVLink vehicles: one UDP link, one thread, idempotent stop.

Example:
    >>> class Quiet(LinkThread):
    ...     def _run(self) -> None:
    ...         self._stop.wait()
    >>> vehicle = Quiet("udpout:127.0.0.1:14550", system_id=1, thread_name="quiet").start()
    >>> vehicle.stop(); vehicle.stop()  # idempotent
"""

from __future__ import annotations

import threading
import time
from typing import Any, Self

from pymavlink import mavutil


class LinkThread:
    """Opens ``out_uri`` on :meth:`start` and runs :meth:`_run` in a daemon thread until :meth:`stop`."""

    def __init__(self, out_uri: str, *, system_id: int, thread_name: str) -> None:
        self.out_uri = out_uri
        self.system_id = system_id
        self._thread_name = thread_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._boot = time.monotonic()

    def _run(self) -> None:
        raise NotImplementedError

    def _uptime_ms(self) -> int:
        return int((time.monotonic() - self._boot) * 1000)

    def start(self) -> Self:
        """Open the link and start the vehicle thread (idempotent)."""
        if self._thread is None:
            self._conn = mavutil.mavlink_connection(
                self.out_uri, source_system=self.system_id, source_component=1, dialect="ardupilotmega"
            )
            self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the socket (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
