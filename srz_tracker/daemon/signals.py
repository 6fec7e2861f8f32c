"""SIGTERM / SIGINT: a bounded stop.

No new pass starts; the pass in flight goes on, starting no new message after
``stop_grace`` seconds (after a second signal: none at all), and every wait inside it is
bounded (SMTP socket timeout, database busy timeout). Then claims and the lease are
released and the process exits 0. If the pass is still stuck after
``stop_grace + 3 x SMTP timeout + 30 s`` the process exits 1 without releasing the lease
(it then lapses by itself): the stuck pass might still send, so no other holder may take
over before the lease says so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

from srz_tracker.daemon.guard import SendGuard
from srz_tracker.daemon.lease import LeaseKeeper
from srz_tracker.daemon.logs import log, num

SIGNALS = (signal.SIGTERM, signal.SIGINT)

# Beyond the grace and the SMTP timeouts: database busy waits and the like.
HARD_STOP_SLACK = 30.0


def hard_stop_seconds(
    stop_grace: float, smtp_timeout: float, slack: float = HARD_STOP_SLACK
) -> float:
    """How long a stop waits for the pass in flight before the process gives up on it:
    the grace, three SMTP timeouts, then ``slack``."""
    return stop_grace + 3 * smtp_timeout + slack


class Stopper:
    """What a stop signal does: set ``stopping``, start the grace, stop the scheduler."""

    def __init__(
        self,
        stopping: threading.Event,
        guard: SendGuard,
        stop_grace: float,
        shutdown: Callable[[], None],
    ) -> None:
        self.stopping = stopping
        self.guard = guard
        self.stop_grace = stop_grace
        self.shutdown = shutdown

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stopping.is_set():
            log.warning("%s again: no further message will be started", name)
            self.guard.stop_now()
            return
        log.info("%s received: stopping after the pass in flight", name)
        self.guard.stop_after(self.stop_grace)
        self.stopping.set()
        # Not from inside the handler: the main thread may be in the scheduler's loop.
        threading.Thread(target=self.shutdown, name="srz-stop", daemon=True).start()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGTERM and SIGINT inside the block; the previous handlers after it."""
        previous = {sig: signal.signal(sig, self.on_signal) for sig in SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def wait_for_pass_in_flight(
    idle: threading.Event,
    keeper: LeaseKeeper,
    heartbeat_seconds: float,
    limit_seconds: float,
) -> None:
    """Return once no pass runs (``idle`` is set), renewing the lease meanwhile so that it
    does not lapse under the last pass. Past ``limit_seconds`` the pass is taken for
    stuck: the process exits 1 at once, keeping the lease."""
    deadline = time.monotonic() + limit_seconds
    with keeper.lock:
        pass  # a pass that saw "not stopping" has marked itself running by now
    if not idle.is_set():
        log.info("waiting for the pass in flight to end")
    while not idle.wait(min(heartbeat_seconds, 1.0)):
        if time.monotonic() > deadline:
            log.error(
                "the pass in flight did not end within %.0f s; exiting without releasing "
                "the lease (it lapses in %s s)",
                limit_seconds,
                num(keeper.ttl.total_seconds()),
            )
            logging.shutdown()
            os._exit(1)
        if keeper.holding:
            keeper.renew()
