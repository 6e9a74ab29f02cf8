"""Issue 2's benchmark: authenticated GET /api/v1/users/me against a bare hello-world.

Both are served by Granian with 2 workers and driven by wrk with 1 thread: 64 connections for
throughput, 8 for latency. Rounds alternate between the two servers so drift hits both alike.
Login is reported too; argon2 makes it slow on purpose and it has no target.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx

from bench.harness import (
    TABLE_HEADER,
    WRK,
    Result,
    bench_database,
    granian,
    median_result,
    rhythm_env,
    wrk,
)

LOGIN_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email": "%s", "password": "%s"}'
"""


def run(rounds: int = 3, seconds: int = 10) -> None:
    from rhythm.migrations import upgrade

    with bench_database() as (database_url, redis_url):
        upgrade(database_url)
        env = rhythm_env(database_url, redis_url)
        hello_env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
        with (
            granian("bench.hello:app", hello_env) as hello,
            granian("rhythm.app:create_app", env) as api,
        ):
            email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
            password = "bench-password-123"
            registered = httpx.post(
                api + "/api/v1/auth/register",
                json={"email": email, "password": password, "name": "Bench"},
            ).json()
            auth = {"Authorization": f"Bearer {registered['access_token']}"}
            assert httpx.get(api + "/api/v1/users/me", headers=auth).status_code == 200

            results: dict[str, list[Result]] = {}
            for _ in range(rounds):
                for label, url, headers in [
                    ("hello-world (baseline)", hello + "/hello", None),
                    ("GET /api/v1/users/me (auth)", api + "/api/v1/users/me", auth),
                ]:
                    throughput = wrk(label, url, connections=64, seconds=seconds, headers=headers)
                    latency = wrk(label, url, connections=8, seconds=seconds, headers=headers)
                    results.setdefault(label + " c64", []).append(throughput)
                    results.setdefault(label + " c8", []).append(latency)

            script = Path("/tmp") / f"rhythm-login-{uuid.uuid4().hex}.lua"
            script.write_text(LOGIN_LUA % (email, password))
            login = (
                wrk(
                    "POST /api/v1/auth/login",
                    api + "/api/v1/auth/login",
                    connections=8,
                    seconds=seconds,
                    script=script,
                )
                if WRK
                else None
            )
            script.unlink()

    medians = {key: median_result(values) for key, values in results.items()}
    hello_rps = medians["hello-world (baseline) c64"].rps
    me_rps = medians["GET /api/v1/users/me (auth) c64"].rps
    print(
        f"load generator: {'wrk -t1' if WRK else 'python fallback'}; medians of {rounds} rounds\n"
    )
    print(TABLE_HEADER)
    for key, result in medians.items():
        result.label = key.replace(" c64", ", 64 connections").replace(" c8", ", 8 connections")
        print(result.row())
    if login is not None:
        login.label = "POST /api/v1/auth/login, 8 connections (argon2id)"
        print(login.row())
    print(f"\nusers/me / hello-world throughput ratio: {me_rps / hello_rps:.1%} (target >= 35%)")
