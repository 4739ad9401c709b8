"""Run a producer (decoding + the face stage) on its own thread, a bounded queue ahead of the consumer (the model).

The face stage (PyAV decoding, OpenCV's Haar detector, cropping) and the model (torch) both release
the GIL in their heavy work, so on a machine with a spare core the two overlap and the wall time
approaches max(face stage, model) instead of their sum. The queue holds at most ``maxsize`` items,
so memory stays bounded however far the producer could run ahead.

Errors raised by the producer are raised again in the consumer, at the point of the stream where
they happened. A consumer that stops early (an exception, ``break``) stops the producer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetch(items: Iterable[T], maxsize: int, name: str = "peclip-prefetch") -> Iterator[T]:
    """Yield the items of ``items`` in order, produced by a background thread at most ``maxsize`` ahead.

    ``maxsize=0`` iterates ``items`` on the caller's thread (no thread, no queue).
    """
    if maxsize <= 0:
        yield from items
        return
    buffer: queue.Queue = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item):
                    close = getattr(iterator, "close", None)  # the consumer stopped: let a generator clean up
                    if close is not None:
                        close()
                    return
        except BaseException as err:  # handed to the consumer, raised there
            put(_Failure(err))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                break
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
