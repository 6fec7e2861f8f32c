"""What every command shares: settings and engine resolved once, at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from srz_tracker.config import Settings


@dataclass
class CliState:
    db_url: str | None = None
    config_path: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from srz_tracker.config import load_settings

            self._settings = load_settings(db_url=self.db_url, config_path=self.config_path)
        return self._settings

    @property
    def engine(self) -> Engine:
        """The engine for a database that must already be initialized (``srz init``)."""
        if self._engine is None:
            from srz_tracker.store import db
            from srz_tracker.store.schema_version import require_current

            # Never create the file here: only srz init and srz demo make a database.
            engine = db.get_engine(self.settings.database_url, create=False)
            require_current(engine)
            self._engine = engine
        return self._engine


pass_state = click.make_pass_decorator(CliState)


def echo_json(data: object) -> None:
    import json

    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
