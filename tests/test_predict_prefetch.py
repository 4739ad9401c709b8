"""The face stage on its own thread: order kept, queue bounded, errors raised in the consumer, early stop."""

from __future__ import annotations

import threading
import time

import pytest

from peclip.predict.prefetch import prefetch


def test_items_arrive_in_order_from_another_thread():
    seen_threads = set()

    def produce():
        for i in range(50):
            seen_threads.add(threading.current_thread().name)
            yield i

    assert list(prefetch(produce(), maxsize=4, name="faces")) == list(range(50))
    assert seen_threads == {"faces"}
    assert list(prefetch(iter(range(5)), maxsize=0)) == list(range(5))  # 0: same thread


def test_the_producer_runs_at_most_maxsize_ahead():
    produced = []

    def produce():
        for i in range(100):
            produced.append(i)
            yield i

    stream = prefetch(produce(), maxsize=3)
    assert next(stream) == 0
    time.sleep(0.3)
    assert len(produced) <= 1 + 3 + 1  # the item taken, the queue, and one waiting to be put
    stream.close()


def test_a_producer_error_is_raised_in_the_consumer_after_the_items_before_it():
    def produce():
        yield 1
        yield 2
        raise ValueError("broken frame 3")

    got = []
    with pytest.raises(ValueError, match="broken frame 3"):
        for item in prefetch(produce(), maxsize=2):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_and_closes_the_producer():
    closed = threading.Event()

    def produce():
        try:
            yield from range(10_000)
        finally:
            closed.set()

    for item in prefetch(produce(), maxsize=2):
        if item == 3:
            break
    assert closed.wait(2.0)
