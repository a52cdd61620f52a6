"""Writes that fail with a deadlock or serialization failure are run again from the start
(agent_storage.retry.RetryPolicy, the one retry policy); other errors are not retried.
The failures are real server errors, raised by a function on the first call."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text


async def _fail_first(pg_conn: Any, schema: str, sqlstate: str) -> str:
    """A function that raises ``sqlstate`` on its first call and returns 1 after."""
    await pg_conn.execute(f'CREATE SEQUENCE "{schema}".calls')
    await pg_conn.execute(f"""
        CREATE FUNCTION "{schema}".fail_first() RETURNS int LANGUAGE plpgsql AS $$
        BEGIN
            IF nextval('"{schema}".calls') = 1 THEN
                RAISE EXCEPTION 'first call fails' USING ERRCODE = '{sqlstate}';
            END IF;
            RETURN 1;
        END $$""")
    return f'SELECT "{schema}".fail_first()'


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"], ids=["deadlock", "serialization"])
async def test_a_busy_write_runs_again(storage_factory: Any, pg_conn: Any,
                                       sqlstate: str) -> None:
    store = await storage_factory()
    sql = await _fail_first(pg_conn, store.backend.schema, sqlstate)
    calls = 0

    async def body(conn: Any) -> Any:
        nonlocal calls
        calls += 1
        return (await conn.execute(text(sql))).scalar()

    assert await store.backend.write(body) == 1
    assert calls == 2
    # the one-statement path (save_thread, save_messages, update_resource) too
    await pg_conn.execute(f'ALTER SEQUENCE "{store.backend.schema}".calls RESTART')
    row = await store.backend.execute_one(text(sql), {})
    assert row[0] == 1


async def test_other_errors_are_not_retried(storage_factory: Any, pg_conn: Any) -> None:
    store = await storage_factory()
    sql = await _fail_first(pg_conn, store.backend.schema, "22012")  # division_by_zero
    calls = 0

    async def body(conn: Any) -> Any:
        nonlocal calls
        calls += 1
        return (await conn.execute(text(sql))).scalar()

    with pytest.raises(Exception, match="first call fails"):
        await store.backend.write(body)
    assert calls == 1
