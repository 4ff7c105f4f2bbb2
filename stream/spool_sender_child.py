"""The child of :class:`stream.spool_sender_process.SpoolSenderProcess` (`-m stream.spool_sender_child`).

It opens the parent's spool file, runs a :class:`~stream.spool_sender.SpoolSender` on it and
speaks the parent's protocol: pickled messages in on stdin (``start``, ``appended``,
``stop``), out on the original stdout (``ready``, ``removed``, ``count``, ``state``).
Anything else written to stdout goes to stderr. Kept out of the ``stream`` package's
imports, so ``-m`` runs it fresh.

Example:
    >>> Popen([sys.executable, "-m", "stream.spool_sender_child"], stdin=PIPE, stdout=PIPE)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import threading
from functools import partial
from typing import IO, Any

from stream.errors import StreamError
from stream.spool import Spool

_STATE_EVERY_S = 0.2


class _ReportingSpool(Spool):
    """The child's view of the spool: reads and deletes rows, and reports what it removed."""

    def __init__(self, path: str, start_seq: int, report: partial[None]) -> None:
        super().__init__(path, max_bytes=2**62)  # the parent enforces the bound
        self._report = report
        with self._lock:
            self._last_seq = start_seq  # only rows the parent has counted

    def note_appended(self, last_seq: int) -> None:
        with self._changed:
            self._last_seq = max(self._last_seq, last_seq)
            self._changed.notify_all()

    def _removed(self, count: int, freed: int, counter: str) -> None:
        super()._removed(count, freed, counter)
        if count:
            self._report(("removed", count, freed, counter))

    def _count(self, name: str, n: int) -> None:
        super()._count(name, n)
        self._report(("count", name, n))


def _child_main(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    from stream.spool_sender import SpoolSender  # kafka-python only in the child

    out_lock = threading.Lock()

    def report(message: tuple[Any, ...]) -> None:
        with out_lock:
            pickle.dump(message, stdout)
            stdout.flush()

    kind, settings = pickle.load(stdin)
    if kind != "start":
        raise StreamError(f"spool sender process: expected 'start', got {kind!r}")
    from kafka import KafkaProducer

    spool = _ReportingSpool(settings["path"], settings["start_seq"], partial(report))
    sender = SpoolSender(
        spool,
        partial(KafkaProducer, **settings["producer_config"]),
        window=settings["window"],
        read_batch=settings["read_batch"],
        retry_backoff_s=settings["retry_backoff_s"],
    ).start()
    report(("ready",))
    stop_timeout = 10.0
    stopped = threading.Event()

    def states() -> None:
        last: tuple[bool, str | None] | None = None
        while not stopped.wait(_STATE_EVERY_S):
            state = (sender.connected, sender.last_error)
            if state != last:
                report(("state", *state))
                last = state

    threading.Thread(target=states, name="roadsight-spool-sender-state", daemon=True).start()
    try:
        while True:
            try:
                kind, arg = pickle.load(stdin)
            except EOFError:  # the parent died: stop; the spool keeps the rest
                break
            if kind == "appended":
                spool.note_appended(arg)
            elif kind == "stop":
                stop_timeout = float(arg)
                break
    finally:
        stopped.set()
        sender.close(stop_timeout)
        report(("state", False, sender.last_error))
        spool.close()
    return 0


def _main() -> int:
    """The child's entry point: stdout is the protocol, so anything printed goes to stderr."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    return _child_main(sys.stdin.buffer, protocol)


if __name__ == "__main__":
    raise SystemExit(_main())
