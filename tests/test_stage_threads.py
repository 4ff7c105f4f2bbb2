"""The threads that overlap the pipeline's stages: order kept, errors raised where the run waits."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from roadsight.stage_threads import Feeder, OrderedStage, StageStopped, run_workers


def _jittered(transform: Callable[[int], int]) -> Callable[[int], int]:
    rng = random.Random(7)
    lock = threading.Lock()

    def slow(item: int) -> int:
        with lock:
            pause = rng.random() * 0.004
        time.sleep(pause)  # workers finish out of order
        return transform(item)

    return slow


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_results_reach_the_sink_in_the_feeders_order_whatever_the_workers_do(workers: int) -> None:
    seen: list[int] = []
    sink = OrderedStage(seen.append)
    sink.start()
    feeder = Feeder(lambda emit: [emit(i) for i in range(300)], depth=workers)
    feeder.start()
    finished_by: set[str] = set()

    def transform(item: int) -> int:
        finished_by.add(threading.current_thread().name)
        return item * 2

    run_workers(workers, feeder, _jittered(transform), sink)
    sink.finish()
    assert seen == [2 * i for i in range(300)]
    if workers > 1:
        assert len(finished_by) > 1  # the work was shared


class _Bad(Exception):
    pass


def test_a_producer_error_is_raised_after_what_it_emitted_before() -> None:
    seen: list[int] = []
    sink = OrderedStage(seen.append)
    sink.start()

    def produce(emit: Callable[[object], bool]) -> None:
        for i in range(5):
            emit(i)
        raise _Bad("camera gone")

    feeder = Feeder(produce)
    feeder.start()
    with pytest.raises(_Bad, match="camera gone"):
        run_workers(2, feeder, lambda item: item, sink)
    sink.finish()
    assert seen == [0, 1, 2, 3, 4]


def test_a_worker_error_stops_the_others_and_is_raised() -> None:
    sink = OrderedStage(lambda item: None)
    sink.start()
    feeder = Feeder(lambda emit: [emit(i) for i in range(10_000)])
    feeder.start()

    def transform(item: int) -> int:
        if item == 50:
            raise _Bad("model failed")
        return item

    with pytest.raises(_Bad, match="model failed"):
        run_workers(3, feeder, transform, sink)
    sink.stop()
    feeder.stop()


def test_a_sink_error_reaches_the_workers_and_ends_the_run() -> None:
    handled: list[int] = []

    def work(item: int) -> None:
        handled.append(item)
        if item == 7:
            raise _Bad("store refused")

    sink = OrderedStage(work)
    sink.start()
    feeder = Feeder(lambda emit: [emit(i) for i in range(10_000)])
    feeder.start()
    with pytest.raises(_Bad, match="store refused"):
        run_workers(2, feeder, lambda item: item, sink)
    feeder.stop()
    sink.stop()
    assert handled[-1] == 7  # nothing was handled after the error


def test_stop_ends_a_stage_that_is_still_busy() -> None:
    release = threading.Event()
    sink = OrderedStage(lambda item: release.wait(5))
    sink.start()
    sink.put("a")
    threading.Timer(0.2, release.set).start()
    sink.stop()
    with pytest.raises(StageStopped):
        sink.put("b")
