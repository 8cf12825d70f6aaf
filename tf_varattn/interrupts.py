"""Ctrl-C and SIGTERM that stop long work between two of its steps.

Python raises KeyboardInterrupt wherever the signal finds the main thread. In TensorFlow that can
be inside a C++ call back into Python (a ``tf.data`` function being traced at the start of an
epoch), and there the interrupt crashed the process (a segmentation fault) or came out as another
error instead of the KeyboardInterrupt a script reports. Inside ``stop_points()`` the first Ctrl-C
is only recorded; ``stop_point()``, called between the steps of long loops (training steps,
decoded batches), raises the KeyboardInterrupt there, and so does the end of the block. A second
Ctrl-C interrupts at once, as Python would.

SIGTERM (``kill PID``, a job scheduler's preemption, a shell or container being stopped) ends a
Python process at once, losing the steps since the last save; a process started in the background
by a script (``nohup cmd &``) cannot even be stopped with SIGINT, which its shell ignores. Inside
``stop_points()`` the first SIGTERM is deferred the same way and raises ``Terminated``, a
KeyboardInterrupt, so whatever saves on Ctrl-C saves on it too; a second SIGTERM ends the process
at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator, Optional


class Terminated(KeyboardInterrupt):
    """A SIGTERM deferred to a stop point (a KeyboardInterrupt, so Ctrl-C's handling applies)."""


# Each deferred signal: the handler Python leaves it with (only then is it deferred), how it is
# named to the user, the exception it raises, the exit status a script returns for it (128 + the
# signal's number, as a shell reports a process the signal ended).
_DEFERRED = {
    signal.SIGINT: (signal.default_int_handler, "Ctrl-C", KeyboardInterrupt, 130, "press it again"),
    signal.SIGTERM: (signal.SIG_DFL, "SIGTERM", Terminated, 143, "send it again"),
}
_requested: Optional[int] = None  # the signal waiting for the next stop point


def _signal_of(stop: KeyboardInterrupt) -> int:
    return signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT


def signal_name(stop: KeyboardInterrupt) -> str:
    """How a script names what stopped it: "SIGTERM" or "Ctrl-C"."""
    return _DEFERRED[_signal_of(stop)][1]


def exit_status(stop: KeyboardInterrupt) -> int:
    """The exit status of a script stopped by ``stop``: 143 after SIGTERM, 130 after Ctrl-C."""
    return _DEFERRED[_signal_of(stop)][3]


def _raise(signum: int) -> None:
    raise _DEFERRED[signum][2]


@contextlib.contextmanager
def stop_points() -> Iterator[None]:
    """Defers Ctrl-C and SIGTERM to the next ``stop_point()`` (or the end of the block). Outside the
    main thread, or for a signal whose handler is not Python's default (ignored, or handled by the
    caller), nothing changes."""
    global _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    deferred = [signum for signum, (default, *_) in _DEFERRED.items() if signal.getsignal(signum) is default]

    def record(signum, frame):
        global _requested
        default, name, _, _, again = _DEFERRED[signum]
        signal.signal(signum, default)  # the same signal a second time: at once
        if _requested is None:
            _requested = signum
        print(f"\n{name}: stopping after this step ({again} to stop at once).", file=sys.stderr, flush=True)

    _requested = None
    for signum in deferred:
        signal.signal(signum, record)
    try:
        yield
    finally:
        for signum in deferred:
            signal.signal(signum, _DEFERRED[signum][0])
        pending, _requested = _requested, None
    if pending is not None:  # the block ended before a stop point: the signal still stops what follows
        _raise(pending)


def stop_point() -> None:
    """Raises the KeyboardInterrupt (``Terminated`` for SIGTERM) of a signal deferred by
    ``stop_points()``; else nothing."""
    global _requested
    if _requested is not None:
        pending, _requested = _requested, None
        _raise(pending)
