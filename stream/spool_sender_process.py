"""The spool sender in a process of its own: the edge's Python work on two cores instead of one.

kafka-python spends about 25 us of Python per record (record encoding, one future and
lock per record), the edge another 15 us validating, encoding and spooling it: together
more than one core's worth at 30,000 events/s, and one process has one GIL.
:class:`SpoolSenderProcess` runs the same :class:`~stream.spool_sender.SpoolSender` loop
in a child process (``python -m stream.spool_sender_child``) on the same spool file
(SQLite WAL: one writer per transaction, readers never blocked), with the same API and
the same promises: rows are sent in ``seq`` order and deleted only once acknowledged.

The two processes talk over the child's stdin and stdout (pickled messages): the
parent says up to which ``seq`` rows are spooled (so the child never reads a row the
parent has not counted yet); the child reports the rows it removed or quarantined,
the send errors, and whether a producer is up, and the parent applies them to its
:class:`~stream.spool.Spool` counters, which wakes :meth:`flush` and blocked producers
as the thread sender does. The child stops when told, or when its stdin closes (the
parent died): what is unacknowledged stays in the spool for the next run.

Example:
    >>> sender = SpoolSenderProcess(spool, {"bootstrap_servers": "b:9092"}).start()  # doctest: +SKIP
    >>> spool.append(messages); sender.flush(30.0)                                 # doctest: +SKIP
    >>> sender.close(); spool.close()                                              # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stream.errors import StreamError
from stream.spool import Spool

log = logging.getLogger(__name__)


class SpoolSenderProcess:
    """:class:`~stream.spool_sender.SpoolSender`'s API, with the sending done by a child process.

    Args:
        spool: the parent's spool (appends happen here; the child opens the same file).
        producer_config: ``kafka.KafkaProducer`` keyword arguments (picklable values).
        window / read_batch / retry_backoff_s: as for ``SpoolSender``.
        start_timeout_s: how long :meth:`start` waits for the child to open the spool.
    """

    def __init__(
        self,
        spool: Spool,
        producer_config: Mapping[str, Any],
        *,
        window: int = 20_000,
        read_batch: int = 2_000,
        retry_backoff_s: float = 1.0,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.spool = spool
        self._settings = {
            "path": str(spool.path.resolve()),  # the child may resolve a relative path elsewhere
            "producer_config": dict(producer_config),
            "window": window,
            "read_batch": read_batch,
            "retry_backoff_s": retry_backoff_s,
        }
        pickle.dumps(self._settings)  # an unpicklable setting fails here, not in the child
        self.start_timeout_s = start_timeout_s
        self.connected = False
        self.last_error: str | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._send_lock = threading.Lock()  # the child's stdin
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def pid(self) -> int | None:
        """The child's process id (None before :meth:`start`): for CPU accounting and ``ps``."""
        return self._child.pid if self._child is not None else None

    def start(self) -> SpoolSenderProcess:
        """Start the child and wait until it has the spool open."""
        root = Path(__file__).resolve().parent.parent
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
        )
        self._child = subprocess.Popen(
            [sys.executable, "-m", "stream.spool_sender_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        start_seq = self.spool.last_seq  # the child reads rows up to here, then as told
        self._send(("start", {**self._settings, "start_seq": start_seq}))
        for target, args, name in ((self._receive, (), "receive"), (self._forward, (start_seq,), "forward")):
            thread = threading.Thread(
                target=target, args=args, name=f"roadsight-spool-sender-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if not self._ready.wait(self.start_timeout_s) or self._child.poll() is not None:
            self.close(timeout_s=1.0)
            raise StreamError(
                f"spool sender process for {self.spool.path} did not start "
                f"(exit code {self._child.returncode}; its errors are on stderr)"
            )
        return self

    def _send(self, message: tuple[str, Any]) -> None:
        child = self._child
        if child is None or child.stdin is None:
            return
        with self._send_lock:
            try:
                pickle.dump(message, child.stdin)
                child.stdin.flush()
            except (BrokenPipeError, ValueError):  # the child is gone (or stdin closed): close() says so
                pass

    def _forward(self, told: int) -> None:
        """Tell the child up to which ``seq`` rows are spooled, as appends come in."""
        while not self._closed.is_set():
            try:
                self.spool.wait_for_rows_after(told, 0.2)
                last = self.spool.last_seq
            except StreamError:  # the spool was closed
                return
            if last > told:
                self._send(("appended", last))
                told = last
            else:
                self._closed.wait(0.01)  # a closed spool answers at once: do not spin

    def _receive(self) -> None:
        """Apply the child's reports to the parent's spool counters."""
        child = self._child
        assert child is not None and child.stdout is not None
        while True:
            try:
                kind, *args = pickle.load(child.stdout)
            except (EOFError, pickle.UnpicklingError, OSError):
                break
            if kind == "ready":
                self._ready.set()
            elif kind == "removed":
                self.spool.apply_removed(*args)
            elif kind == "count":
                self.spool.apply_count(*args)
            elif kind == "state":
                self.connected, self.last_error = args
        self.connected = False
        self._ready.set()  # the child is gone: start() must not wait for it

    def flush(self, timeout_s: float | None = 30.0) -> None:
        """Wait until everything spooled before this call was acknowledged (see ``SpoolSender.flush``)."""
        target = self.spool.last_seq
        if not self.spool.wait_drained(target, timeout_s):
            stats = self.spool.stats()
            alive = self._child is not None and self._child.poll() is None
            raise StreamError(
                f"spool {self.spool.path}: {stats.pending} messages still waiting for the broker after "
                f"{timeout_s} s (oldest {stats.oldest_age_s:.0f} s; last error: {self.last_error}"
                f"{'' if alive else '; the sender process has exited'})"
            )

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the child (it closes its producer); unacknowledged rows stay in the spool."""
        self._closed.set()
        child = self._child
        if child is None:
            return
        self._send(("stop", timeout_s))
        try:
            child.wait(timeout_s + 30.0)
        except subprocess.TimeoutExpired:
            log.warning("spool sender process %d did not stop; killing it", child.pid)
            child.kill()
            child.wait()
        for thread in self._threads:
            thread.join(5.0)  # the receiver has applied the child's last reports
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
