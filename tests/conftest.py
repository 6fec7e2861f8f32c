"""The shared fixtures live in plugins under tests/fixtures/, one module per resource:

- ``tests.fixtures.databases``: ``db_url``, ``demo_db_url`` (alias ``loaded``), ``engine``,
  each a fresh copy of a template on SQLite and on PostgreSQL (``SRZ_TEST_PG_URL``;
  with ``SRZ_REQUIRE_PG=1`` a missing server fails instead of skipping);
- ``tests.fixtures.smtp``: ``smtp_server`` and ``smtp``, real SMTP servers on loopback;
- ``tests.fixtures.daemons``: ``daemons``, the real ``srz run`` processes.
"""

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.smtp",
    "tests.fixtures.daemons",
    "tests.fixtures.small_plan",
]
