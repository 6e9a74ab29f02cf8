"""Soak: the mixed load for a long while, watching memory. `python bench/soak.py [--minutes 10]`.

Runs the mixed benchmark's cluster (bench/mixed_scenario.py: `--processes` API processes, 2
job workers, one PostgreSQL database rhythm_bench_soak, one private Redis) under its mixed load
(wrk, 64 connections, in 2-minute runs back to back, fresh scripts each time; each sleeper's
clock-in and clock-out strictly alternate, each sent only once the other was answered) for
`--minutes`,
and samples the RSS of every server process (each Granian process and its worker, each job
worker) every `--every` seconds with psutil.

After warm-up (the first fifth of the run, at least 60 s when the run allows) it compares the
mean RSS of the first 30 s after warm-up with that of the last 30 s, per process and in total.
Exits 1 if the total grows by 10% or more, or if any request failed (non-2xx, or a wrk socket
error: connect, read, write or timeout).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import mixed_scenario as mixed
from bench.harness import Result

WINDOW = 30.0
CHUNK = 120


def server_processes() -> dict[int, str]:
    """pid -> a short name, for every API (Granian) and job worker process under this one."""
    found = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "granian" in cmdline and "rhythm.app" in cmdline:
            role = (
                "api worker"
                if proc.parent() and proc.parent().pid != psutil.Process().pid
                else "api main"
            )
            found[proc.pid] = f"{role} {proc.pid}"
        elif "rhythm worker" in cmdline or cmdline.endswith("-m rhythm worker"):
            found[proc.pid] = f"job worker {proc.pid}"
    return found


def sample(
    names: dict[int, str],
    samples: list[tuple[float, dict[int, int]]],
    stop: threading.Event,
    every: float,
) -> None:
    started = time.monotonic()
    while not stop.is_set():
        rss = {}
        for pid in names:
            try:
                rss[pid] = psutil.Process(pid).memory_info().rss
            except psutil.Error:
                continue
        samples.append((time.monotonic() - started, rss))
        stop.wait(every)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--processes", type=int, default=2, help="API processes")
    parser.add_argument("--every", type=float, default=5, help="seconds between RSS samples")
    parser.add_argument(
        "--database", default="rhythm_bench_soak", help="PostgreSQL database (recreated)"
    )
    args = parser.parse_args()
    duration = args.minutes * 60
    warmup = max(min(60.0, duration / 3), duration / 5)

    database_url = mixed.recreate_database(args.database)
    results: list[Result] = []
    samples: list[tuple[float, dict[int, int]]] = []
    with mixed.private_redis() as redis_url:
        fixture = mixed.prepare(database_url, redis_url)
        with mixed.cluster(fixture, args.processes) as api:
            import asyncio

            from bench.focus_scenario import warm

            asyncio.run(warm(api[0], fixture.tokens, fixture.users))
            names = server_processes()
            stop = threading.Event()
            sampler = threading.Thread(target=sample, args=(names, samples, stop, args.every))
            sampler.start()
            started = time.monotonic()
            chunk = 0
            try:
                while (left := duration - (time.monotonic() - started)) > 1:
                    mixed.close_open_nights(database_url)
                    seconds = int(min(CHUNK, left))
                    scripts = mixed.scripts(fixture, len(api), 1000 + chunk)
                    result = mixed.load("soak", api, seconds, scripts)
                    results.append(result)
                    print(
                        f"{time.monotonic() - started:6.0f} s: {result.rps:,.0f} req/s,"
                        f" non-2xx {result.errors}, socket errors {result.socket_errors}",
                        flush=True,
                    )
                    chunk += 1
            finally:
                stop.set()
                sampler.join()

    def mean_rss(first: float, last: float) -> dict[int, float]:
        window = [rss for at, rss in samples if first <= at <= last]
        return {pid: statistics.mean(s[pid] for s in window if pid in s) for pid in names}

    end = samples[-1][0]
    after_warmup = mean_rss(warmup, warmup + WINDOW)
    at_end = mean_rss(end - WINDOW, end)
    total_before = sum(after_warmup.values())
    total_end = sum(at_end.values())
    growth = total_end / total_before - 1
    requests = sum(r.requests for r in results)
    errors = sum(r.errors + r.socket_errors for r in results)
    print(
        f"\nsoak: {args.minutes:g} min, {args.processes} API processes + 2 job workers,"
        f" {requests:,} requests ({requests / end:,.0f}/s), {errors} errors;"
        f" warm-up {warmup:.0f} s, RSS means over {WINDOW:.0f} s windows\n"
    )
    print("| process | RSS after warm-up MB | RSS at the end MB | growth |\n|---|---|---|---|")
    for pid, name in names.items():
        before, after = after_warmup[pid], at_end[pid]
        print(
            f"| {name} | {before / 2**20:.1f} | {after / 2**20:.1f} | {after / before - 1:+.1%} |"
        )
    print(f"| all | {total_before / 2**20:.1f} | {total_end / 2**20:.1f} | {growth:+.1%} |")
    failed = growth >= 0.10 or errors > 0
    print(
        f"\n{'FAILED' if failed else 'passed'}: growth {growth:+.1%} (limit +10%), {errors} errors"
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
