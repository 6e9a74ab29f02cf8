"""Redis commands per authenticated request: `python bench/auth_commands.py DATABASE_URL REDIS_URL`.

Serves GET /api/v1/users/me 200 times on the ASGI app, with an access token and with an API
key, and prints the Redis commands (INFO commandstats, commands inside scripts included) each
request cost. Use a private Redis: every command on the server is counted. The database named
`rhythm_auth_commands` on the PostgreSQL server is created and dropped.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import psycopg
import redis as sync_redis
from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import make_url

from rhythm.app import create_app
from rhythm.migrations import upgrade
from rhythm.platform.database import libpq_url
from rhythm.platform.settings import Settings

DATABASE = "rhythm_auth_commands"
REQUESTS = 200


def commands(redis: sync_redis.Redis) -> int:
    return sum(int(stats["calls"]) for stats in redis.info("commandstats").values())


async def measure(server_url: str, redis_url: str) -> None:
    admin = libpq_url(server_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    url = make_url(server_url).set(database=DATABASE).render_as_string(hide_password=False)
    upgrade(url)
    settings = Settings(
        env="test",
        database_url=url,
        redis_url=redis_url,
        secret_key="bench-secret-key-0123456789-0123456789",
        rate_limit_default="1000000/minute",
        log_level="ERROR",
        data_dir=Path(tempfile.gettempdir()),
    )
    app = create_app(settings)
    counter = sync_redis.Redis.from_url(redis_url)
    try:
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as http,
        ):
            account = {"email": "bench@example.com", "password": "0123456789", "name": "B"}
            token = (await http.post("/api/v1/auth/register", json=account)).json()
            signed_in = {"Authorization": f"Bearer {token['access_token']}"}
            created = await http.post(
                "/api/v1/auth/api-keys", json={"name": "bench"}, headers=signed_in
            )
            keyed = {"Authorization": f"Bearer {created.json()['key']}"}
            for label, headers in (("access token", signed_in), ("API key", keyed)):
                for _ in range(5):  # warm the caches
                    await http.get("/api/v1/users/me", headers=headers)
                before = commands(counter)
                for _ in range(REQUESTS):
                    response = await http.get("/api/v1/users/me", headers=headers)
                    assert response.status_code == 200, response.text
                spent = commands(counter) - before - 1  # the INFO itself
                print(f"{label}: {spent / REQUESTS:.2f} Redis commands per request")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    asyncio.run(measure(sys.argv[1], sys.argv[2]))
