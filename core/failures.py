"""Which failures are worth trying again, for the web (a 503) and the workers (a retry).

- `OUTAGES`: PostgreSQL or Redis unreachable (or a Redis Cluster failing over). The web
  answers 503; a consumer retries the same work in place, without counting it against the
  entry.
- `TRANSIENT`: an outage, or PostgreSQL aborting one of two concurrent transactions (a
  deadlock, a serialization failure): nobody's fault, and the retry succeeds.
- `nothing_sent(exc)`: an HTTP call whose connection never opened, so nothing reached the
  other side and a retry can never duplicate anything.
"""

from __future__ import annotations

import aiohttp
import asyncpg
from redis.exceptions import ClusterDownError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["OUTAGES", "TRANSIENT", "nothing_sent"]

OUTAGES = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    # A pooled connection PostgreSQL just dropped (restart, failover) can fail its next query
    # with "cannot switch to state ...; another operation is in progress" before asyncpg
    # notices the socket is gone: an outage too, not a bug of ours.
    asyncpg.InternalClientError,
    RedisConnectionError,
    RedisTimeoutError,
    # A Redis Cluster between a master lost and its replica promoted.
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
)

TRANSIENT = (*OUTAGES, asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


def nothing_sent(exc: BaseException) -> bool:
    """True only when the request cannot have reached the server: the connection never
    opened (refused, unreachable, or no connection within the connect timeout)."""
    return isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
