"""Graceful stops for long jobs: SIGTERM/SIGINT set a flag that the job checks at safe points.

Batch schedulers (SLURM's time limit, preemption) send SIGTERM before SIGKILL.  A job that checks the
flag after each committed batch stops cleanly with everything so far saved, and ``--resume`` continues.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from pxrdsolve.errors import PxrdsolveError


class Interrupted(PxrdsolveError):
    """A job stopped by a signal at a safe point; ``exit_status`` is 128 + the signal number."""

    def __init__(self, message: str, signum: int = signal.SIGTERM) -> None:
        super().__init__(message)
        self.exit_status = 128 + int(signum)


class StopFlag:
    """Set by SIGTERM/SIGINT while :meth:`installed`; handlers only in the main thread, restored after."""

    def __init__(self) -> None:
        self.set = False
        self.signum = int(signal.SIGTERM)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopFlag]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum, frame):  # noqa: ARG001
            self.set = True
            self.signum = int(signum)

        old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)
