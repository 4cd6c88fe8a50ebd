"""The event loop of the local test servers: uvloop when installed (in benchmarks these servers
share the CPU with what is measured), else plain asyncio, which behaves the same, a little slower."""

from __future__ import annotations

import asyncio


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
