"""Commands timed as whole processes, the way a user runs them: each figure is the
median of several runs, the commands taking turns round by round so that a busy moment
of the machine falls on all of them alike."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASELINE = [sys.executable, "-c", "import sqlalchemy.orm, click"]


def srz_executable() -> str:
    """The ``srz`` script of this interpreter's environment."""
    candidate = Path(sys.executable).parent / "srz"
    return str(candidate) if candidate.exists() else "srz"


@dataclass
class Timed:
    name: str
    times: list[float] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_seconds": self.median,
            "min_seconds": min(self.times),
            "max_seconds": max(self.times),
            "runs": len(self.times),
            "times": [round(t, 4) for t in self.times],
        }


def paired(a: Timed, b: Timed, op: Callable[[float, float], float]) -> float:
    """Median over rounds of ``op(a_i, b_i)``: both ran in the same round, so a busy
    moment of the machine weighs on both sides of each pair."""
    return statistics.median(op(x, y) for x, y in zip(a.times, b.times, strict=True))


# A command is a fixed argv or a function of the run number (srz done closes a new task
# each time); ``check`` looks at one run's stdout.
Argv = Sequence[str] | Callable[[int], Sequence[str]]


def time_rounds(
    commands: dict[str, tuple[Argv, dict[str, str], Path]],
    runs: int,
    warmup: int = 1,
) -> dict[str, Timed]:
    """``commands``: name -> (argv, env, cwd). Runs ``warmup`` untimed rounds (page cache,
    .pyc files), then ``runs`` timed rounds."""
    out = {name: Timed(name) for name in commands}
    for r in range(warmup + runs):
        for name, (argv, env, cwd) in commands.items():
            args = list(argv(r) if callable(argv) else argv)
            started = time.perf_counter()
            proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True)
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                raise RuntimeError(
                    f"{name}: {' '.join(args)} exited {proc.returncode}: "
                    f"{proc.stderr.decode(errors='replace')[-2000:]}"
                )
            if r >= warmup:
                out[name].times.append(elapsed)
                if len(out[name].outputs) < 1:
                    out[name].outputs.append(proc.stdout.decode(errors="replace"))
    return out


def srz_env(url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SRZ_") and k not in ("PYTHONPROFILEIMPORTTIME",)
    }
    env.update({"SRZ_DATABASE_URL": url, "SRZ_USER": "bench", "SRZ_TRANSPORT": "null"})
    return env


def json_count(text: str) -> int:
    return len(json.loads(text))
