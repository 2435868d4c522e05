"""Where the tests keep their data: the database and Redis that ``LUFFY_TEST_*`` name.

``LUFFY_TEST_DATABASE_URL`` (a database of the tests' own: it is wiped) and
``LUFFY_TEST_REDIS_URL`` (a Redis DB number of their own: it is flushed) run every
test against real servers; ``.ci/run`` sets them. Without them: SQLite in memory and
fakeredis. Servers that send messages need a broker: ``BROKER_URL`` is
``LUFFY_TEST_BROKER_URL``, else ``LUFFY_TEST_REDIS_URL``, else the machine's Redis (DB 6).
"""

import os

DATABASE_URL = os.environ.get("LUFFY_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("LUFFY_TEST_REDIS_URL")
BROKER_URL = os.environ.get("LUFFY_TEST_BROKER_URL") or REDIS_URL or "redis://127.0.0.1:6379/6"
