"""Fixtures: scheduler processes that are always stopped, and a throw-away PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.scheduler.harness import Schedulers, create_database, drop_database, schedulers


@pytest.fixture
def scheds(tmp_path: Path) -> Iterator[Schedulers]:
    with schedulers(tmp_path) as s:
        yield s


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    name = await create_database()
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        await drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/jobs.db"
        return
    name = await create_database()
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        await drop_database(name)
