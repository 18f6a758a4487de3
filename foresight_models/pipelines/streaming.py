"""How a pipeline call reports its events to :meth:`ForesightPipeline.stream`.

A stream runs the ordinary call, ``pipe(**arguments)``, in a worker thread. The worker sets
:data:`EVENT_SINK` (a ``contextvars.ContextVar``) in its own copy of the consumer's context; the
stages of the call report events with :func:`emit`, which does nothing outside a stream. So no
stage takes an ``emit`` argument, and two streams on one pipeline never see each other's events.

The worker never waits for the consumer (the queue is unbounded), so it never blocks while holding
one of the pipeline's locks. When the consumer leaves, the worker stops at its next event: the
``for`` loop over a stream iterates a private generator that the loop alone holds, so ``break``
(or an exception in the loop body) closes it at once, even while the stream object itself is
still referenced; ``close()``, leaving a ``with`` block and garbage collection do the same.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from .events import Done, ForesightEvent, TextDelta

__all__ = ["EVENT_SINK", "ForesightStream", "StreamCancelled", "emit", "is_streaming"]

#: Where the events of the running call go (``None``: not streamed).
EVENT_SINK: contextvars.ContextVar[Callable[[ForesightEvent], None] | None] = contextvars.ContextVar(
    "foresight_event_sink", default=None
)


class StreamCancelled(Exception):
    """Raised inside a stream's worker, at its next event, once the consumer has left."""


def emit(event: ForesightEvent) -> None:
    """Hand ``event`` to the stream this call runs in, if any (raises :class:`StreamCancelled` once it is closed)."""
    sink = EVENT_SINK.get()
    if sink is not None:
        sink(event)


def is_streaming() -> bool:
    """Whether the running call reports to a stream (then VLM text is streamed token by token)."""
    return EVENT_SINK.get() is not None


def text_delta_streamer(tokenizer, *, stage: str, index: int | None):
    """A ``transformers`` streamer that emits each finalized piece of generated text as a ``TextDelta``,
    from inside ``generate`` (no extra thread), or ``None`` outside a stream."""
    if not is_streaming():
        return None
    from transformers import TextStreamer

    class _TextDeltaStreamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                emit(TextDelta(text=text, stage=stage, index=index))

    return _TextDeltaStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


class _Worker:
    """The thread that runs the call, and the queue and flag it shares with the consumer (not the stream
    object itself, so that dropping the stream can be noticed)."""

    def __init__(self, run: Callable[[], Any]):
        self.events: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()
        self.failure: BaseException | None = None
        context = contextvars.copy_context()  # the consumer's context variables, as asyncio.to_thread does
        self.thread = threading.Thread(target=context.run, args=(self._work, run), daemon=True)

    def _sink(self, event: ForesightEvent) -> None:
        if self.cancelled.is_set():
            raise StreamCancelled
        self.events.put(event)

    def _work(self, run: Callable[[], Any]) -> None:
        EVENT_SINK.set(self._sink)
        try:
            self.events.put(Done(run()))
        except StreamCancelled:
            pass
        except BaseException as error:  # re-raised in the consumer
            self.failure = error
            self.events.put(None)

    def stop(self) -> None:
        self.cancelled.set()
        if self.thread.ident is not None and self.thread is not threading.current_thread():
            self.thread.join()


class ForesightStream:
    """The events of one pipeline call, as they happen; returned by :meth:`ForesightPipeline.stream`.

    Iterate it (``for event in stream``), pull with ``next(stream)``, or use it as a context manager.
    The work starts at the first event asked for. Leaving a ``for`` loop early (``break``, an
    exception), ``close()``, leaving the ``with`` block or dropping the stream stops the worker at
    its next event (the next piece of VLM text or the next denoising step); ``close()`` and leaving
    a loop or ``with`` block also wait for it, so the pipeline is idle afterwards. An error of the
    call is re-raised where the event would have come.
    """

    def __init__(self, run: Callable[[], Any]):
        self._worker = _Worker(run)
        self._finished = False
        weakref.finalize(self, self._worker.cancelled.set)

    def __next__(self) -> ForesightEvent:
        if self._finished:
            raise StopIteration
        worker = self._worker
        if worker.thread.ident is None:
            worker.thread.start()
        event = worker.events.get()
        if event is None:
            self._finished = True
            raise worker.failure
        if isinstance(event, Done):
            self._finished = True
        return event

    def __iter__(self) -> Iterator[ForesightEvent]:
        # A generator that only the loop references: leaving the loop closes it, and with it the stream.
        def events() -> Iterator[ForesightEvent]:
            try:
                while not self._finished:
                    yield next(self)
            finally:
                self.close()

        return events()

    def close(self) -> None:
        """Stop the work at its next event and wait for it (idempotent)."""
        self._finished = True
        self._worker.stop()

    def __enter__(self) -> ForesightStream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
