"""Run rhythm's benchmarks: `python bench/run.py platform [--rounds 3] [--seconds 10]`.

Each scenario starts its servers with Granian and 2 workers, measures a baseline in the same
run, and prints a Markdown table to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    aw_import,
    backlog_replay,
    capacity,
    catalog_scenario,
    cluster_keys,
    export,
    focus_scenario,
    mixed_scenario,
    platform_scenario,
    sleep_scenario,
    slot_cost,
    usage_scenario,
)

SCENARIOS = {
    "platform": platform_scenario.run,
    "sleep": sleep_scenario.run,
    "focus": focus_scenario.run,
    "usage": usage_scenario.run,
    "usage-categories": usage_scenario.run_categories,
    "catalog": catalog_scenario.run,
}
# Run only when named: they take several minutes (mixed recreates its own database; aw_import
# writes a 170 MB export and imports it; backlog replays a day of three watchers; export
# exports an account of a million usage intervals; capacity replays a day of activity and reads
# the 1M-user dataset's sizes; slots serves two source trees side by side).
ON_REQUEST = {
    "mixed": mixed_scenario.run,
    "aw_import": aw_import.run,
    "backlog": backlog_replay.run,
    "export": export.run,
    "capacity": capacity.run,
    # Issue 15: the hot routes before and after the hash-tagged keys, and on a Redis Cluster.
    "redis-cluster": cluster_keys.run,
    "slots": slot_cost.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=[*SCENARIOS, *ON_REQUEST, "all"])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1, 2, 4],
        help="mixed: the numbers of API processes to run in turn",
    )
    parser.add_argument(
        "--via",
        nargs="+",
        choices=mixed_scenario.VIAS,
        help="mixed: how the API processes reach PostgreSQL, each measured in the same rounds"
        " (direct: the default; direct-nocache: RHYTHM_DATABASE_POOLER=transaction on direct"
        " connections; pgbouncer: through Debian's PgBouncer in transaction mode, with it;"
        " replica: a primary and a streaming replica that the run starts, reads routed by"
        " RHYTHM_DATABASE_REPLICA_URLS; pgbouncer+replica: both, a PgBouncer before each;"
        " with a replica via, every via runs on that run's primary)",
    )
    args = parser.parse_args()
    if args.via and args.scenario != "mixed":
        parser.error("--via applies to the mixed scenario only")
    if args.scenario in ON_REQUEST:
        print(f"## {args.scenario}\n")
        options = {"via": args.via} if args.scenario == "mixed" else {}
        ON_REQUEST[args.scenario](
            rounds=args.rounds, seconds=args.seconds, processes=args.processes, **options
        )
        return
    chosen = SCENARIOS if args.scenario == "all" else {args.scenario: SCENARIOS[args.scenario]}
    for name, scenario in chosen.items():
        print(f"## {name}\n")
        scenario(rounds=args.rounds, seconds=args.seconds)


if __name__ == "__main__":
    main()
