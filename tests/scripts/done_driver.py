"""``srz done`` racing the daemon: ``python done_driver.py DB_URL TASK_ID...``.

Runs the real console-script entry point (srz_tracker.cli:main, what the ``srz``
executable calls) once per task, dropping its engine in between so that every call opens
its own connection and its own BEGIN IMMEDIATE transaction exactly as a fresh ``srz done``
process does; only the interpreter start-up (0.3 s of CPU per process) is shared. Prints
one JSON line per task: its exit code, its stderr and how long it took.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time

from srz_tracker.cli import main
from srz_tracker.store import db


def done_once(url: str, task_id: str) -> dict[str, object]:
    err = io.StringIO()
    sys.argv = ["srz", "--db", url, "done", task_id, "--no-evidence-reason", "racing test"]
    code, started = 0, time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:
            # Anything but a clean exit is a failure the test must see, with its cause.
            code = 99
            err.write(repr(exc))
    db.dispose_all()
    seconds = round(time.perf_counter() - started, 3)
    return {"task": task_id, "code": code, "stderr": err.getvalue(), "seconds": seconds}


def main_driver(argv: list[str]) -> None:
    url, ids = argv[0], argv[1:]
    for task_id in ids:
        print(json.dumps(done_once(url, task_id)), flush=True)


if __name__ == "__main__":
    main_driver(sys.argv[1:])
