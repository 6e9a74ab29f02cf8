"""Issue 15's cost check of the hash-tagged keys: the hot routes before and after, one run.

`python bench/run.py redis-cluster`: GET /api/v1/users/me and POST /api/v1/usage/heartbeats
(one heartbeat a request, a random user of 2,000), on standalone Redis, served by the code of
the branch point with main (`git archive` of its src/, "before") and by this checkout ("after"),
and by this checkout on a 3-primary Redis Cluster started on loopback (tests/rediscluster.py),
all against one database; with hello-world as the baseline, in alternating rounds.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from tests.rediscluster import LocalCluster, redis_server_binary

from bench.focus_scenario import create_users
from bench.harness import ROOT, TABLE_HEADER, Result, bench_database, granian, median_result, wrk
from bench.harness import rhythm_env as base_env
from bench.sleep_scenario import SECRET, mint_tokens
from bench.usage_scenario import SINGLE_LUA

USERS = 2_000


def _code_before(directory: Path) -> Path:
    """src/ at the merge base of HEAD and main, extracted under `directory`."""
    base = subprocess.run(
        ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = directory / "before.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", base, "src"], cwd=ROOT, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter="data")
    return directory / "src"


async def warm(api: str, tokens: list[str]) -> None:
    """Every user's /users/me once, so every session and profile is in the auth cache."""
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        queue = list(tokens)

        async def worker() -> None:
            while queue:
                token = queue.pop()
                response = await client.get(
                    "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status_code == 200, response.text

        await asyncio.gather(*[worker() for _ in range(16)])


def run(rounds: int = 3, seconds: int = 10, **_: object) -> None:
    from rhythm.migrations import upgrade

    binary = redis_server_binary()
    assert binary is not None, "redis-server is needed for the cluster"
    scratch = Path(tempfile.mkdtemp(prefix="rhythm-bench-cluster-"))
    cluster = LocalCluster(binary).start()
    try:
        with bench_database() as (database_url, redis_url):
            upgrade(database_url)
            with psycopg.connect(database_url) as conn:
                users = create_users(conn, USERS)
                tokens = mint_tokens(conn, users)
            token_file = scratch / "tokens"
            token_file.write_text("\n".join(tokens))

            def env(src: Path, url: str) -> dict[str, str]:
                # Three APIs of 2 processes on one shared PostgreSQL: a smaller pool each.
                values = base_env(
                    database_url, url, RHYTHM_SECRET_KEY=SECRET, RHYTHM_DB_POOL_SIZE="8"
                )
                values["PYTHONPATH"] = str(src)
                return values

            before_src, after_src = _code_before(scratch), ROOT / "src"
            hello_env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
            results: dict[str, list[Result]] = {}
            with (
                granian("bench.hello:app", hello_env) as hello,
                granian("rhythm.app:create_app", env(before_src, redis_url)) as before,
                granian("rhythm.app:create_app", env(after_src, redis_url)) as after,
                granian("rhythm.app:create_app", env(after_src, cluster.url)) as on_cluster,
            ):
                servers = [
                    ("before, standalone Redis", before),
                    ("after, standalone Redis", after),
                    ("after, Redis Cluster (3 primaries)", on_cluster),
                ]
                for _, api in servers:
                    asyncio.run(warm(api, tokens))
                auth = {"Authorization": f"Bearer {tokens[0]}"}
                now = int(time.time())
                for round_ in range(rounds):
                    results.setdefault("hello-world (baseline)", []).append(
                        wrk("hello", hello + "/hello", connections=64, seconds=seconds)
                    )
                    # Every other round in reverse order: no server always runs first.
                    order = list(enumerate(servers))
                    for index, (name, api) in order if round_ % 2 == 0 else order[::-1]:
                        me = wrk(
                            name,
                            api + "/api/v1/users/me",
                            connections=64,
                            seconds=seconds,
                            headers=auth,
                        )
                        results.setdefault(f"GET /users/me, {name}", []).append(me)
                        script = scratch / f"hb-{round_}-{index}.lua"
                        start = now - 7200 + (round_ * len(servers) + index) * 300
                        script.write_text(SINGLE_LUA % (token_file, round_, start))
                        beat = wrk(
                            name,
                            api + "/api/v1/usage/heartbeats",
                            connections=64,
                            seconds=seconds,
                            script=script,
                        )
                        results.setdefault(f"POST /usage/heartbeats, {name}", []).append(beat)
    finally:
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    medians = {key: median_result(values) for key, values in results.items()}
    hello_rps = medians["hello-world (baseline)"].rps
    print(f"wrk -t1 -c64, {seconds} s; medians of {rounds} alternating rounds\n")
    print(TABLE_HEADER)
    for key, result in medians.items():
        result.label = key
        print(result.row())
    print("\nthroughput as a share of hello-world's:")
    for key, result in medians.items():
        print(f"- {key}: {result.rps / hello_rps:.1%}")
