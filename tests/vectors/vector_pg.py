"""Helpers of the vector tests: talk to a PostgreSQL server with asyncpg."""

from __future__ import annotations

import asyncio
from typing import Any

PLAIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


async def fetch(url: str, sql: str) -> list[Any]:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncio.wait_for(asyncpg.connect(dsn), 10)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def execute(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncio.wait_for(asyncpg.connect(url), 10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def offers_pgvector(url: str) -> bool:
    try:
        rows = asyncio.run(fetch(
            url, "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"))
    except Exception:
        return False
    return bool(rows)


def answers(url: str) -> bool:
    try:
        asyncio.run(fetch(url, "SELECT 1"))
    except Exception:
        return False
    return True
