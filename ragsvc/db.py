"""Where the trace store and the cost ledger keep their tables: a SQLite file each (the embedded
default) or one PostgreSQL database (``database.url``), so that replicas share traces, feedback
and one budget.

The stores write their SQL once, with ``?`` placeholders and DB-API calls; a PostgreSQL connection
translates the placeholders. What differs between the two engines (a column type, case-insensitive
LIKE, the implicit row order) is a word in :attr:`Database.words`, put into the SQL with ``{word}``.

A store's schema is a list of :class:`Migration` applied in order when it opens and recorded in
``schema_migrations`` (one row per store and version), in one transaction that holds the database's
write lock (SQLite) or an advisory lock (PostgreSQL), so replicas starting together migrate once.
A database migrated by a newer version is refused.

Why not SQLAlchemy and Alembic: the stores depend on engine behaviour that an abstraction would
hide (SQLite's ``BEGIN IMMEDIATE`` and busy timeout, a writer connection of its own, PostgreSQL's
table locks for the budget), and their schema is four tables; a migration here is a few
statements, the runner thirty lines.
"""

from __future__ import annotations

import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit, urlunsplit

from ragsvc.errors import ConfigError, TraceStoreUnavailableError
from ragsvc.settings import DatabaseSettings

BUSY_TIMEOUT_S = 5.0
"""How long a statement waits for another connection's lock, and a call for a pooled connection."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    statements: tuple[str, ...]
    unless_column: tuple[str, str] | None = None
    """(table, column): recorded without running when the column exists already (a store written
    before migrations were recorded)."""


class Database(ABC):
    words: ClassVar[Mapping[str, str]]
    errors: tuple[type[Exception], ...]
    """What a failing database raises: the stores turn these into their own errors."""

    name: str
    """The file or the URL without its password, for messages."""

    @abstractmethod
    def open(self) -> Connection:
        """A connection of the caller's own (a writer thread's); close it when done."""

    @abstractmethod
    def connection(self) -> AbstractContextManager[Connection]:
        """A connection for one call, returned (closed or to the pool) after it."""

    @contextmanager
    def serving(self, what: str) -> Iterator[Connection]:
        """:meth:`connection` for one read or write of ``what`` (e.g. "trace store"); a failing
        database becomes :class:`TraceStoreUnavailableError`, a 503 that says to retry."""
        try:
            with self.connection() as db:
                yield db
        except self.errors as exc:
            raise TraceStoreUnavailableError(
                f"{what} {self.name} is unavailable ({exc}); retry in a few seconds"
            ) from exc

    @abstractmethod
    def transaction(self, db: Connection, lock: str | None = None) -> AbstractContextManager[None]:
        """A transaction on ``db`` that commits when the block ends and rolls back on an exception.
        With ``lock`` (a table), concurrent transactions naming it run one after another, in any
        process: SQLite takes the file's write lock for any write transaction, PostgreSQL the
        table's ``SHARE ROW EXCLUSIVE`` lock (reads go on)."""

    @abstractmethod
    def columns(self, db: Connection, table: str) -> set[str]: ...

    def usable(self, db: Connection) -> bool:
        """False for a connection the server dropped (open it again)."""
        return True

    @abstractmethod
    def _lock_migrations(self, db: Connection) -> None:
        """Until the transaction ends, no other process migrates this database."""

    def close(self) -> None:  # noqa: B027 - only PostgreSQL's pool has something to release
        """Release what the database holds (PostgreSQL's pool)."""

    def sql(self, statement: str) -> str:
        return statement.format_map(self.words)

    def migrate(self, component: str, migrations: Sequence[Migration]) -> None:
        """Apply ``component``'s migrations that this database has not recorded yet."""
        newest = max(m.version for m in migrations)
        with self.connection() as db, self.transaction(db):
            self._lock_migrations(db)  # first: concurrent CREATE TABLEs can collide on PostgreSQL
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, "
                "version INTEGER NOT NULL, applied_at TEXT NOT NULL DEFAULT '', "
                "PRIMARY KEY (component, version))"
            )
            done = {
                version
                for (version,) in db.execute(
                    "SELECT version FROM schema_migrations WHERE component = ?", (component,)
                )
            }
            if done and max(done) > newest:
                raise ConfigError(
                    f"{self.name}: the {component} tables are at migration {max(done)}, this "
                    f"version of ragsvc knows up to {newest}; upgrade ragsvc or use another "
                    "database"
                )
            for migration in sorted(migrations, key=lambda m: m.version):
                if migration.version in done:
                    continue
                table_column = migration.unless_column
                if table_column is None or table_column[1] not in self.columns(db, table_column[0]):
                    for statement in migration.statements:
                        db.execute(self.sql(statement))
                db.execute(
                    "INSERT INTO schema_migrations (component, version, applied_at) "
                    "VALUES (?, ?, CURRENT_TIMESTAMP)",
                    (component, migration.version),
                )


class SqliteDatabase(Database):
    words: ClassVar[Mapping[str, str]] = {
        "double": "REAL",
        "row_id": "",
        "row_order": "rowid",
        "like": "LIKE",
        "question_of_body": "coalesce(json_extract(body, '$.question'), '')",
    }

    def __init__(self, path: Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.errors = (sqlite3.Error,)
        self.path = path
        self.name = str(path)
        self._busy_timeout_s = busy_timeout_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._use_wal()

    def _use_wal(self) -> None:
        """Readers never wait for the writer. Switching a new file to WAL needs its exclusive
        lock; a connection that read the file before another switched it cannot upgrade its lock
        and gets "database is locked" at once, without the busy timeout (a possible deadlock, to
        SQLite): replicas opening one new file together retry here within the busy timeout."""
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            try:
                with closing(self.open()) as db:
                    db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def open(self) -> sqlite3.Connection:
        return sqlite3.connect(
            self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with closing(self.open()) as db:
            yield db

    @contextmanager
    def transaction(self, db: Connection, lock: str | None = None) -> Iterator[None]:
        assert isinstance(db, sqlite3.Connection)
        db.execute("BEGIN IMMEDIATE")  # the busy timeout covers taking the write lock
        with db:  # commits; rolls back on an exception (if SQLite has not already, as on FULL)
            yield

    def columns(self, db: Connection, table: str) -> set[str]:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}

    def _lock_migrations(self, db: Connection) -> None:
        """The write transaction holds the file's lock already."""


class _PostgresConnection:
    """A psycopg connection taking the stores' ``?`` placeholders."""

    def __init__(self, connection: Any) -> None:
        self.raw = connection

    @staticmethod
    def _translated(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cursor: Cursor = self.raw.execute(self._translated(sql), params)
        return cursor

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(self._translated(sql), rows)

    def close(self) -> None:
        self.raw.close()


def redacted_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresDatabase(Database):
    words: ClassVar[Mapping[str, str]] = {
        "double": "DOUBLE PRECISION",
        "row_id": "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,",
        "row_order": "id",
        "like": "ILIKE",
        "question_of_body": "coalesce(body::jsonb ->> 'question', '')",
    }

    def __init__(
        self, url: str, pool_size: int = 4, busy_timeout_s: float = BUSY_TIMEOUT_S
    ) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self.errors = (psycopg.Error, TimeoutError)  # the pool's PoolTimeout is a TimeoutError
        self.name = redacted_url(url)
        self._url = url
        self._busy_timeout_s = busy_timeout_s
        self._connect_kwargs: dict[str, Any] = {
            "autocommit": True,  # transactions are explicit (transaction()); reads need none
            "connect_timeout": max(1, round(busy_timeout_s)),
            "options": f"-c lock_timeout={round(busy_timeout_s * 1000)}",
        }
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs=self._connect_kwargs,
            timeout=busy_timeout_s,
            check=ConnectionPool.check_connection,
            open=False,
            name="ragsvc",
        )
        try:
            self._pool.open(wait=True, timeout=max(busy_timeout_s, 10.0))
        except Exception as exc:
            self._pool.close()
            raise ConfigError(f"cannot connect to the database {self.name}: {exc}") from exc

    def open(self) -> _PostgresConnection:
        import psycopg

        return _PostgresConnection(psycopg.connect(self._url, **self._connect_kwargs))

    @contextmanager
    def connection(self) -> Iterator[_PostgresConnection]:
        with self._pool.connection() as raw:
            yield _PostgresConnection(raw)

    @contextmanager
    def transaction(self, db: Connection, lock: str | None = None) -> Iterator[None]:
        assert isinstance(db, _PostgresConnection)
        with db.raw.transaction():
            if lock is not None:
                db.execute(f"LOCK TABLE {lock} IN SHARE ROW EXCLUSIVE MODE")
            yield

    def columns(self, db: Connection, table: str) -> set[str]:
        rows = db.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
        return {row[0] for row in rows}

    def usable(self, db: Connection) -> bool:
        assert isinstance(db, _PostgresConnection)
        return not (db.raw.closed or db.raw.broken)

    def _lock_migrations(self, db: Connection) -> None:
        db.execute("SELECT pg_advisory_xact_lock(hashtext('ragsvc migrations'))")

    def close(self) -> None:
        self._pool.close()


def open_database(settings: DatabaseSettings, sqlite_path: Path) -> Database:
    """PostgreSQL at ``database.url`` when set, else the SQLite file ``sqlite_path``."""
    if settings.url is None:
        return SqliteDatabase(sqlite_path)
    return PostgresDatabase(settings.url.get_secret_value(), settings.pool_size)
