"""Work that must not run on the request's own event loop.

Under gevent (the default server) a "thread" is a greenlet of the worker's one OS thread: CPU-bound
work, or a blocking wait in C, stops every other request of the worker until it ends. These run such
work in an OS thread (gevent's thread pool under gevent, a plain thread otherwise), where the
interpreter still hands the event loop a turn every few milliseconds.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def _gevent_hub():
    try:
        from gevent import get_hub, monkey
    except ImportError:
        return None
    return get_hub() if monkey.is_module_patched("threading") else None


def off_the_event_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), waited for, off the event loop (under threads or bjoern it runs where it is)."""
    hub = _gevent_hub()
    return fn(*args) if hub is None else hub.threadpool.apply(fn, args)


def in_the_background(fn: Callable[..., Any], *args: Any) -> Callable[[float | None], None]:
    """Start fn(*args) in an OS thread, not waited for; returns a function that waits for it."""
    hub = _gevent_hub()
    if hub is not None:
        result = hub.threadpool.spawn(fn, *args)
        return lambda timeout=None: result.wait(timeout)
    thread = threading.Thread(target=fn, args=args, name="crm-mock-background", daemon=True)
    thread.start()
    return thread.join
