"""The app as uvicorn starts it (``srz serve``): each worker process builds its own from
the environment, the way every ``srz`` command reads its settings (``SRZ_*`` variables,
``SRZ_CONFIG``), and nothing the workers need is shared in memory, so any of them can
answer any request."""

from __future__ import annotations

import os

from starlette.applications import Starlette

from srz_tracker.clock import parse_now
from srz_tracker.config import load_settings
from srz_tracker.daemon.logs import setup_logging
from srz_tracker.web.app import create_app

# The import string uvicorn is given, and how ``srz serve --now`` reaches the workers.
FACTORY = "srz_tracker.web.server:app_from_environment"
ENV_NOW = "SRZ_WEB_NOW"


def app_from_environment() -> Starlette:
    setup_logging()
    now = os.environ.get(ENV_NOW)
    return create_app(load_settings(), parse_now(now) if now else None)
