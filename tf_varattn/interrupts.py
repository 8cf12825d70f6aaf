"""Ctrl-C that stops long work between two of its steps.

Python raises KeyboardInterrupt wherever the signal finds the main thread. In TensorFlow that can
be inside a C++ call back into Python (a ``tf.data`` function being traced at the start of an
epoch), and there the interrupt crashed the process (a segmentation fault) or came out as another
error instead of the KeyboardInterrupt a script reports. Inside ``stop_points()`` the first Ctrl-C
is only recorded; ``stop_point()``, called between the steps of long loops (training steps,
decoded batches), raises the KeyboardInterrupt there, and so does the end of the block. A second
Ctrl-C interrupts at once, as Python would.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator

_requested = False  # a Ctrl-C is waiting for the next stop point


@contextlib.contextmanager
def stop_points() -> Iterator[None]:
    """Defers Ctrl-C to the next ``stop_point()`` (or the end of the block). Outside the main
    thread, or where SIGINT does not raise KeyboardInterrupt (ignored, or handled by the caller),
    nothing changes."""
    global _requested
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def record(signum, frame):
        global _requested
        _requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C: at once
        print("\nCtrl-C: stopping after this step (press it again to stop at once).", file=sys.stderr, flush=True)

    _requested = False
    signal.signal(signal.SIGINT, record)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        pending, _requested = _requested, False
    if pending:  # the block ended before a stop point: the Ctrl-C still stops what follows
        raise KeyboardInterrupt


def stop_point() -> None:
    """Raises the KeyboardInterrupt of a Ctrl-C deferred by ``stop_points()``; else nothing."""
    global _requested
    if _requested:
        _requested = False
        raise KeyboardInterrupt
