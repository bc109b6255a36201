"""Opens the store named by ``--storage``: ``sqlite:///path``, ``sqlite://`` or a PostgreSQL DSN."""

from __future__ import annotations

from pathlib import Path

from pydapr.scheduler.store import DEFAULT_PARTITIONS, JobStore


def default_sqlite_path() -> Path:
    from pydapr.home import pydapr_home

    return pydapr_home() / "scheduler" / "jobs.db"


def open_store(url: str, partitions: int = DEFAULT_PARTITIONS) -> JobStore:
    if url.startswith(("postgres://", "postgresql://")):
        from pydapr.scheduler.postgres_store import PostgresJobStore

        return PostgresJobStore(url, partitions)
    if url.startswith("sqlite://"):
        from pydapr.scheduler.sqlite_store import SqliteJobStore

        path = url[len("sqlite://") :]
        # sqlite:///abs/path has an absolute path after the scheme; sqlite:// alone is the default file.
        return SqliteJobStore(Path(path) if path else default_sqlite_path(), partitions)
    raise ValueError(f"unsupported scheduler storage {url!r}: use sqlite:///path or postgresql://...")
