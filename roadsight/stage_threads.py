"""Threads that overlap the pipeline's stages: a feeder, inference workers and an ordered sink.

The run is a chain ``Feeder -> workers -> OrderedStage``:

* the :class:`Feeder` runs a producer function in its own thread (gather waiting frames,
  letterbox them) and numbers what it emits;
* :func:`run_workers` starts ``n`` threads that each take the next item, transform it
  (the model's forward pass: ONNX Runtime releases the GIL, so several runs proceed at
  once on several cores) and hand the result on under the same number;
* the :class:`OrderedStage` handles results strictly in that order (tracking needs frames
  in capture order), however the workers finished.

An exception in any thread is kept and raised in the thread that waits on it, so the run
ends with the error that stopped it. ``stop()`` ends a thread whatever state it is in.

Example:
    >>> seen = []
    >>> sink = OrderedStage(seen.append)
    >>> sink.start()
    >>> feeder = Feeder(lambda emit: [emit(i) for i in range(5)])
    >>> feeder.start()
    >>> run_workers(2, feeder, lambda item: item * 10, sink)
    >>> sink.finish()
    >>> seen
    [0, 10, 20, 30, 40]
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

_END = object()


class StageStopped(Exception):
    """A stage was stopped before its queue was done (the run is ending on another error)."""


class Feeder:
    """Runs ``produce(emit)`` in its own thread; :meth:`get` hands out ``(number, item)`` in order.

    ``emit`` returns False once the feeder is stopped (the producer should then return).
    ``depth`` bounds the items waiting, so the producer runs only that far ahead.
    """

    def __init__(self, produce: Callable[[Callable[[object], bool]], object], depth: int = 1) -> None:
        self._produce = produce
        self._items: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._numbers = itertools.count()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def get(self) -> tuple[int, object] | None:
        """The next ``(number, item)``, waiting for it; None at the end (for every caller).

        Raises the producer's exception once everything it emitted before it has been taken.
        """
        while True:
            try:
                got = self._items.get(timeout=0.2)
                break
            except queue.Empty:
                if self._stop.is_set():
                    return None
        if got is _END:
            self._put(_END)  # the other consumers see the end too
            if self._error is not None:
                raise self._error
            return None
        assert isinstance(got, tuple)
        return got

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:  # a put waiting for room sees the stop within its timeout
                self._items.get_nowait()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._items.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _emit(self, item: object) -> bool:
        return self._put((next(self._numbers), item))

    def _run(self) -> None:
        try:
            self._produce(self._emit)
        except BaseException as exc:  # raised by get()
            self._error = exc
        finally:
            self._put(_END)


class OrderedStage:
    """One thread that runs ``work(item)`` on numbered items in number order (0, 1, 2, ...).

    :meth:`put` queues an item (waiting while the stage is ``depth`` behind) and raises the
    stage's exception, if it has one; :meth:`finish` waits until everything put is done.
    """

    def __init__(self, work: Callable[[Any], object], depth: int = 2) -> None:
        self._work = work
        self._items: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="post", daemon=True)
        self._auto = itertools.count()
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, item: object, number: int | None = None) -> None:
        """Queue ``item`` as ``number`` (default: the next number of items put without one)."""
        if number is None:
            with self._lock:
                number = next(self._auto)
        while True:
            self.raise_error()
            try:
                self._items.put((number, item), timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until every item put is handled; raises the stage's exception, if any."""
        while True:
            self.raise_error()
            try:
                self._items.put(_END, timeout=0.2)
                break
            except queue.Full:
                continue
        self._thread.join()
        self.raise_error()

    def stop(self) -> None:
        """End the thread whatever state it is in (after an error it drains without working)."""
        if not self._thread.is_alive():
            return
        if self._error is None:
            self._error = StageStopped()
        deadline = time.monotonic() + 30
        while self._thread.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Full):
                self._items.put(_END, timeout=0.2)
            self._thread.join(timeout=0.2)

    def _loop(self) -> None:
        waiting: list[tuple[int, int, object]] = []  # heap of (number, tie-break, item)
        tie = itertools.count()
        expected = 0
        while (got := self._items.get()) is not _END:
            if self._error is not None:
                continue  # drain: the run is ending
            assert isinstance(got, tuple)
            number, item = got
            heapq.heappush(waiting, (number, next(tie), item))
            while waiting and waiting[0][0] == expected:
                _, _, ready = heapq.heappop(waiting)
                expected += 1
                try:
                    self._work(ready)
                except BaseException as exc:  # raised in the putting thread
                    self._error = exc
                    break
        if waiting and self._error is None:  # numbers missing: a bug, not something to hide
            self._error = RuntimeError(f"post stage: items {[w[0] for w in waiting]} never became due")


def run_workers(
    n: int, feeder: Feeder, transform: Callable[[Any], Any], sink: OrderedStage, name: str = "infer"
) -> None:
    """``n`` threads: each takes the feeder's next item, transforms it, and puts the result to ``sink``.

    Returns when the feeder is exhausted and every worker is done; raises the first worker's
    (or the feeder's, or the sink's) exception. On an exception the feeder is stopped so the
    other workers end too.
    """
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while (got := feeder.get()) is not None:
                number, item = got
                sink.put(transform(item), number)
        except BaseException as exc:
            errors.append(exc)
            feeder.stop()

    threads = [threading.Thread(target=work, name=f"{name}-{i}", daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
