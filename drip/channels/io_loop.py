"""The event loop provider calls run on: one per process, in a daemon thread named ``drip-io``.

Provider calls are network waits. Run as a hundred threads each blocking on a socket, they cost
more CPU in thread hand-offs and in ``http.client``/``smtplib`` than the messages themselves
(measured: docs/history.md, "Stack changes"). The sender's main thread keeps the database;
this loop keeps the sockets.

Started on first use, and again in a child after ``fork`` (a thread does not survive it:
Celery's prefork workers import drip before forking). Sockets belong to the loop that opened
them: channels keep theirs per loop, so a child never uses its parent's.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _forget_after_fork() -> None:
    global _lock, _loop
    _lock, _loop = threading.Lock(), None  # the parent's loop thread did not come along


os.register_at_fork(after_in_child=_forget_after_fork)


def get() -> asyncio.AbstractEventLoop:
    """This process's loop, running in its own thread."""
    global _loop
    if _loop is None:
        with _lock:
            if _loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="drip-io", daemon=True).start()
                _loop = loop
    return _loop


def run(coroutine: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
    """Run ``coroutine`` on the loop from any other thread; wait for and return its result."""
    loop = get()
    if threading.current_thread().name == "drip-io":
        coroutine.close()
        raise RuntimeError("io_loop.run() called from the loop's own thread: await instead")
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout_s)


def in_running_loop() -> bool:
    """True when this process's loop exists and is running (something may hold its sockets)."""
    return _loop is not None and _loop.is_running()


def close_when_collected(
    owner: object, close: Callable[..., Coroutine[Any, Any, None]], *args: object
) -> None:
    """If ``owner`` is garbage-collected without being closed, run ``close(*args)`` on the loop:
    sockets are not left to the collector. ``args`` must not refer to ``owner``."""
    weakref.finalize(owner, _close_later, os.getpid(), close, args)


def _close_later(
    pid: int, close: Callable[..., Coroutine[Any, Any, None]], args: tuple[object, ...]
) -> None:
    if pid == os.getpid() and in_running_loop():
        asyncio.run_coroutine_threadsafe(close(*args), get())
