"""Progress of long work: Keras's bar on a terminal, plain lines in a log file.

On a terminal the bar redraws itself; when the output is a file or a pipe, a plain line
(no ANSI codes, no carriage returns) is printed every ``interval`` seconds and at the end.
"""

from __future__ import annotations

import sys
import time
from typing import Optional, Sequence


class Progress:
    """``Progress(total, label)``; ``update(done, values)`` or ``add(count)`` as work proceeds.

    ``initial``: work done before this process started (a resumed epoch); the time left is
    estimated from the rate of this process's own work.
    """

    def __init__(self, total: int, label: str, unit: str = "step", stateful: Sequence[str] = (),
                 interval: float = 30.0, stream=None, initial: int = 0):
        self.total, self.label, self.unit, self.interval = total, label, unit, interval
        self.stream = stream or sys.stdout
        self.initial = initial
        self.done, self.start, self.last_line = initial, time.perf_counter(), None
        self.means: dict[str, tuple[float, int]] = {}
        self.stateful = set(stateful)
        interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = None
        if interactive:
            import keras

            self.bar = keras.utils.Progbar(total, unit_name=unit, stateful_metrics=list(stateful))

    def update(self, done: int, values: Optional[Sequence[tuple[str, float]]] = None) -> None:
        values = list(values or [])
        self.done = done
        if self.bar is not None:
            self.bar.update(done, values)
            return
        for name, value in values:
            total, count = self.means.get(name, (0.0, 0))
            self.means[name] = (value, 1) if name in self.stateful else (total + value, count + 1)
        now = time.perf_counter()
        if done >= self.total or self.last_line is None or now - self.last_line >= self.interval:
            self.last_line = now
            self._print_line(now)

    def add(self, count: int, values: Optional[Sequence[tuple[str, float]]] = None) -> None:
        self.update(self.done + count, values)

    def _print_line(self, now: float) -> None:
        elapsed = now - self.start
        share = self.done / self.total if self.total else 1.0
        here = self.done - self.initial
        remaining = elapsed / here * (self.total - self.done) if here > 0 else float("nan")
        metrics = "".join(f", {name} {total / count:.4g}" for name, (total, count) in self.means.items())
        print(f"{self.label}: {self.done}/{self.total} {self.unit}s ({100 * share:.0f}%), {_clock(elapsed)} elapsed, "
              f"{_clock(remaining)} left{metrics}", file=self.stream, flush=True)


def _clock(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "?"
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
