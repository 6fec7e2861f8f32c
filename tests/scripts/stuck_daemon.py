"""A daemon whose pass is stuck beyond every timeout: ``python stuck_daemon.py DB_URL``.

Its transport prints ``sending`` and then blocks for an hour inside ``send``, the way a
library call can hang where no socket timeout reaches; the test then checks that SIGTERM
still ends the process, through the hard stop, within a bounded time.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from srz_tracker.config import SmtpSettings, load_settings, with_overrides
from srz_tracker.daemon.run import Daemon, setup_logging
from srz_tracker.store import db


class StuckTransport:
    description = "a transport stuck beyond every timeout"

    def __enter__(self) -> StuckTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def send(self, email: Any) -> None:
        print("sending", flush=True)
        time.sleep(3600)


def main(url: str) -> int:
    setup_logging()
    settings = with_overrides(load_settings(db_url=url), smtp=SmtpSettings(timeout_seconds=0.1))
    daemon = Daemon(
        db.get_engine(url),
        settings,
        interval=0.3,
        lease_seconds=30,
        stop_grace=0,
        transport_factory=StuckTransport,
    )
    daemon.hard_stop_slack = 0.5
    return daemon.run_forever()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
