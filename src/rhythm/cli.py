"""The `rhythm` command: serve, worker, migrate and the operator's tools."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, BinaryIO, cast

import structlog
import typer
from pydantic import ValidationError
from redis import Redis

from rhythm.platform.embedded import EmbeddedServers
from rhythm.platform.observability import configure_logging
from rhythm.platform.preflight import check_redis, explain
from rhythm.platform.process import granian_argv, spawn_child
from rhythm.platform.settings import Settings, get_settings

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from rhythm.platform.resources import Resources
    from rhythm.portability.kinds import Restoring
    from rhythm.portability.schemas import ImportSummary

cli = typer.Typer(
    help="rhythm: personal time tracking with a social layer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
log = structlog.get_logger("rhythm.cli")

STOP_TIMEOUT = 20.0


def main() -> None:
    try:
        cli()
    except Exception as exc:
        # A server that cannot be reached, a database that does not exist or is not migrated:
        # one sentence for the operator. Anything else is a bug and keeps its traceback.
        sentence = explain(exc)
        if sentence is None:
            raise
        typer.echo(f"rhythm: {sentence}", err=True)
        sys.exit(1)


def _check_servers(database_url: str, redis_url: str | None, *, require_head: bool) -> None:
    """Fail at once, in one sentence, when a server is unreachable or the schema does not suit."""
    from rhythm import migrations

    migrations.check(database_url, require_head=require_head)
    if redis_url is not None:
        check_redis(redis_url, cluster=get_settings().redis_cluster)


def _settings() -> Settings:
    try:
        settings = get_settings()
    except ValidationError as exc:
        # One sentence per bad setting, naming its variable, instead of a traceback.
        for error in exc.errors(include_url=False):
            message = error["msg"].removeprefix("Value error, ")
            if error["loc"]:
                message = f"RHYTHM_{str(error['loc'][0]).upper()}: {message}"
            typer.echo(f"rhythm: configuration error: {message}.", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_json)
    return settings


class _Supervisor:
    """Runs child processes and stops them all, in order, on SIGINT or SIGTERM."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.children.append((name, spawn_child(argv, env=env)))

    def wait(self) -> int:
        """Block until a signal arrives or a child dies; the exit code to return."""
        while not self.stopping:
            for name, child in self.children:
                if child.poll() is not None:
                    log.error("child_exited", child=name, code=child.returncode)
                    return 1
            time.sleep(0.2)
        return 0

    def stop(self) -> None:
        for _, child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for name, child in self.children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("child_killed", child=name)
                child.kill()
                child.wait()


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (RHYTHM_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (RHYTHM_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes (RHYTHM_WORKERS).")] = None,
) -> None:
    """Serve the API with Granian.

    With no RHYTHM_DATABASE_URL / RHYTHM_REDIS_URL, starts embedded PostgreSQL and Redis under
    RHYTHM_DATA_DIR, migrates, and runs the job worker alongside; all stop on Ctrl-C/SIGTERM.
    """
    settings = _settings()
    supervisor = _Supervisor()
    embedded = EmbeddedServers(settings.data_dir) if settings.embedded else None
    metrics_dir = Path(tempfile.mkdtemp(prefix="rhythm-metrics-"))
    code = 1
    try:
        env = dict(os.environ)
        if embedded is not None:
            database_url, redis_url = embedded.start()
            env["RHYTHM_DATABASE_URL"] = settings.database_url or database_url
            env["RHYTHM_REDIS_URL"] = settings.redis_url or redis_url
        # Every process must sign with the same key.
        env["RHYTHM_SECRET_KEY"] = settings.signing_key()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        if supervisor.stopping:
            return
        from rhythm.migrations import upgrade

        _check_servers(env["RHYTHM_DATABASE_URL"], env["RHYTHM_REDIS_URL"], require_head=False)
        upgrade(env["RHYTHM_DATABASE_URL"])
        log.info("migrated")
        supervisor.spawn(
            "granian",
            granian_argv(host or settings.host, port or settings.port, workers or settings.workers),
            env,
        )
        if embedded is not None:
            supervisor.spawn("worker", [sys.executable, "-m", "rhythm", "worker"], env)
        log.info(
            "serving",
            url=f"http://{host or settings.host}:{port or settings.port}",
            embedded=embedded is not None,
        )
        code = supervisor.wait()
    finally:
        supervisor.stop()
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    raise typer.Exit(code)


@cli.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at once.")] = 4,
) -> None:
    """Run background jobs and periodic schedules (needs RHYTHM_DATABASE_URL and REDIS_URL)."""
    settings = _settings()
    if settings.embedded:
        typer.echo(
            "rhythm worker needs RHYTHM_DATABASE_URL and RHYTHM_REDIS_URL; with neither set,"
            " `rhythm serve` runs the worker itself.",
            err=True,
        )
        raise typer.Exit(2)
    assert settings.database_url is not None
    _check_servers(settings.database_url, settings.redis_url, require_head=True)

    from rhythm.jobs import run_worker
    from rhythm.platform.resources import open_resources

    async def run() -> None:
        resources = open_resources(settings)
        task = asyncio.ensure_future(run_worker(resources, concurrency=concurrency))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
        finally:
            await resources.close()

    asyncio.run(run())


@cli.command()
def migrate() -> None:
    """Apply the database migrations (to the embedded database when no URL is set)."""
    settings = _settings()
    from rhythm.migrations import upgrade

    if settings.database_url is not None:
        _check_servers(settings.database_url, None, require_head=False)
        upgrade(settings.database_url)
        return
    embedded = EmbeddedServers(settings.data_dir)
    try:
        database_url = embedded.postgres.start()
        upgrade(database_url)
    finally:
        embedded.postgres.stop()


catalog_cli = typer.Typer(help="The event provider's catalog.", no_args_is_help=True)
users_cli = typer.Typer(help="Accounts.", no_args_is_help=True)
cli.add_typer(catalog_cli, name="catalog")
cli.add_typer(users_cli, name="users")
usage_cli = typer.Typer(help="Usage history.", no_args_is_help=True)
cli.add_typer(usage_cli, name="usage")


async def _run_with_resources(settings: Settings, action):  # type: ignore[no-untyped-def]
    from rhythm.platform.resources import open_resources

    resources = open_resources(settings)
    try:
        return await action(resources)
    finally:
        await resources.close()


def _operate(action, prepare=None, settings=None) -> object:  # type: ignore[no-untyped-def]
    """Run an async action against the configured servers, or the embedded ones; `prepare`,
    given the servers' settings, runs first."""
    settings = settings or _settings()
    embedded = None
    if settings.embedded:
        from rhythm.migrations import upgrade

        embedded = EmbeddedServers(settings.data_dir)
        database_url, redis_url = embedded.start()
        upgrade(database_url)
        settings = settings.model_copy(
            update={"database_url": database_url, "redis_url": redis_url}
        )
    else:
        assert settings.database_url is not None
        _check_servers(settings.database_url, settings.redis_url, require_head=True)
    try:
        if prepare is not None:
            prepare(settings)
        return asyncio.run(_run_with_resources(settings, action))
    finally:
        if embedded is not None:
            embedded.stop()


@catalog_cli.command("sync")
def catalog_sync(
    url: Annotated[str | None, typer.Option(help="The feed's URL (default: the setting).")] = None,
    file: Annotated[Path | None, typer.Option(help="Sync from a local XML file.")] = None,
) -> None:
    """Sync the catalog once, now, and print the run's record."""
    from rhythm.catalog import service

    settings = _settings()
    if url is None and file is None:
        url = settings.catalog_provider_url
    if url is None and file is None:
        typer.echo("Give --url or --file, or set RHYTHM_CATALOG_PROVIDER_URL.", err=True)
        raise typer.Exit(2)

    async def run(resources):  # type: ignore[no-untyped-def]
        return await service.sync(
            resources.session_factory,
            resources.redis,
            url=url,
            path=file,
            max_bytes=settings.catalog_max_bytes,
        )

    result = _operate(run)
    typer.echo(
        f"sync {result.sync_id}: {result.status}; {result.counts}; "  # type: ignore[attr-defined]
        f"catalog version {result.catalog_version}"  # type: ignore[attr-defined]
    )
    for error in result.errors[:20]:  # type: ignore[attr-defined]
        typer.echo(f"  {error}")
    if result.status == "failed":  # type: ignore[attr-defined]
        raise typer.Exit(1)


@users_cli.command("promote")
def users_promote(email: str) -> None:
    """Make the account with this email an administrator."""
    from rhythm.identity import service as identity_service
    from rhythm.identity.cache import AuthCache
    from rhythm.platform.database import commit
    from rhythm.platform.ratelimit import RateLimits

    async def run(resources):  # type: ignore[no-untyped-def]
        cache = AuthCache(resources.redis, RateLimits(resources.settings, resources.redis_url))
        async with resources.session_factory() as session:
            promoted = await identity_service.promote(session, cache, email)
            await commit(session)
            return promoted

    if not _operate(run):
        typer.echo(f"No account with the email {email}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"{email} is an administrator.")


async def _restoring(resources: Resources, session: AsyncSession, user_id: uuid.UUID) -> Restoring:
    """What an import writes with, outside a request: the contexts' caches on these servers."""
    from rhythm.focus.standings_cache import Standings
    from rhythm.identity import service as identity_service
    from rhythm.identity.cache import AuthCache
    from rhythm.platform.ratelimit import RateLimits
    from rhythm.portability.kinds import Restoring
    from rhythm.sleep.feed_cache import FeedCache

    settings = resources.settings
    user = await identity_service.get_user(session, user_id)
    return Restoring(
        session=session,
        user_id=user_id,
        timezone=user.timezone,
        redis=resources.redis,
        auth=AuthCache(resources.redis, RateLimits(settings, resources.redis_url)),
        feeds=FeedCache(resources.redis, settings.sleep_fanout_threshold),
        standings=Standings(resources.redis),
        focus_threshold_minutes=settings.focus_qualify_minutes,
    )


IMPORT_CHUNK = 1024 * 1024


def _opened(file: Path) -> BinaryIO:
    """A file to import, open; a RhythmError saying why it cannot be read."""
    from rhythm.platform.errors import RhythmError

    try:
        return file.open("rb")
    except OSError as exc:
        raise RhythmError(f"cannot read it ({exc.strerror})") from None


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    while block := await asyncio.to_thread(handle.read, IMPORT_CHUNK):
        yield block


async def _account(session: AsyncSession, email: str) -> uuid.UUID:
    from rhythm.identity import service as identity_service
    from rhythm.platform.errors import RhythmError

    user_id = await identity_service.user_id_by_email(session, email)
    if user_id is None:
        raise RhythmError(f"no account has the email {email}")
    return user_id


@users_cli.command("export")
def users_export(
    email: str,
    format: Annotated[
        str, typer.Option(help="ndjson (JSON Lines) or csv (a ZIP of CSVs).")
    ] = "ndjson",
) -> None:
    """Write everything the account owns to stdout, as GET /users/me/export does."""
    from rhythm.platform.errors import RhythmError
    from rhythm.portability import service

    if format not in {"ndjson", "csv"}:
        typer.echo("rhythm: --format is ndjson or csv.", err=True)
        raise typer.Exit(2)
    write = service.export_zip if format == "csv" else service.export_lines
    out = sys.stdout.buffer

    async def run(resources):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        written = reported = 0
        async with resources.session_factory() as session:
            await service.snapshot(session)
            user_id = await _account(session, email)
            async for piece in write(session, user_id):
                await asyncio.to_thread(out.write, piece)
                written += len(piece)
                if written - reported >= 100 * 1024 * 1024:
                    reported = written
                    typer.echo(f"  {written / 1e6:,.0f} MB written", err=True)
        await asyncio.to_thread(out.flush)
        return written, time.perf_counter() - began

    try:
        written, seconds = cast("tuple[int, float]", _operate(run))
    except RhythmError as exc:
        typer.echo(f"rhythm: {email} was not exported: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Exported {email}: {written / 1e6:,.1f} MB in {seconds:.1f} s.", err=True)


@users_cli.command("import")
def users_import(
    email: str,
    file: Annotated[Path, typer.Argument(help="An export (JSON Lines), as `users export` writes.")],
) -> None:
    """Import an export into the account, as POST /users/me/import does: all or nothing."""
    from rhythm.platform.database import commit
    from rhythm.platform.errors import RhythmError
    from rhythm.portability import service

    def progress(records: int) -> None:
        typer.echo(f"  {records:,} records read", err=True)

    async def run(resources):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        with _opened(file) as handle:
            async with resources.session_factory() as session:
                user_id = await _account(session, email)
                to = await _restoring(resources, session, user_id)
                summary = await service.import_records(to, _chunks(handle), progress)
                await commit(session)
        return summary, time.perf_counter() - began

    try:
        summary, seconds = cast("tuple[ImportSummary, float]", _operate(run))
    except RhythmError as exc:
        typer.echo(f"rhythm: {file} was not imported: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    imported = ", ".join(f"{n:,} {kind}" for kind, n in summary.imported.items() if n)
    skipped = ", ".join(f"{n:,} {kind}" for kind, n in summary.skipped.items() if n)
    typer.echo(
        f"Imported into {email}: {imported or 'nothing'}"
        + (f" (skipped: {skipped})" if skipped else "")
        + f" in {seconds:.1f} s."
    )


@usage_cli.command("import")
def usage_import(
    file: Annotated[Path, typer.Argument(help="An ActivityWatch export (aw-server's JSON).")],
    user: Annotated[str, typer.Option("--user", help="The account's email.")],
) -> None:
    """Import an ActivityWatch export into an account, as POST /api/0/import does."""
    from rhythm.platform.database import commit
    from rhythm.platform.errors import RhythmError
    from rhythm.usage import history

    def progress(events: int) -> None:
        typer.echo(f"  {events:,} events read", err=True)

    async def run(resources):  # type: ignore[no-untyped-def]
        with _opened(file) as handle:
            async with resources.session_factory() as session:
                user_id = await _account(session, user)
                summary = await history.import_document(session, user_id, _chunks(handle), progress)
                await commit(session)
                return summary

    try:
        summary = _operate(run)
    except RhythmError as exc:
        typer.echo(f"rhythm: {file} was not imported: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"Imported {summary.inserted:,} new events of {summary.events:,} "  # type: ignore[attr-defined]
        f"into {summary.buckets:,} buckets ({summary.buckets_created:,} created) "  # type: ignore[attr-defined]
        f"in {summary.seconds:.1f} s."  # type: ignore[attr-defined]
    )


@cli.command()
def demo(
    reset: Annotated[
        bool, typer.Option("--reset", help="Empty a non-empty instance first (asks to confirm).")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask before --reset empties it.")
    ] = False,
    password: Annotated[
        str | None,
        typer.Option(help="Every demo account's password (default: a new random one)."),
    ] = None,
) -> None:
    """Fill a fresh instance with a demo world and print two logins to try.

    Fifty people in many time zones who follow each other (some private, with requests and a
    block), eight weeks of their nights, focus histories, two computers' usage for the last
    week, and the catalog from the sample feed; the same world every time (seeded). An
    instance holding data is refused unless --reset.
    """
    import secrets

    from rhythm import migrations
    from rhythm.demo import seed, world
    from rhythm.identity.passwords import MAX_LENGTH, MIN_LENGTH
    from rhythm.jobs import connect_contexts
    from rhythm.platform.preflight import shown
    from rhythm.platform.timeutil import utc_now

    began = time.perf_counter()
    settings = _settings()
    # Progress lines are the demo's own output; rhythm's routine logs (a server started, a
    # feed line rejected) would only interleave with them.
    if settings.log_level.upper() != "DEBUG":
        configure_logging("ERROR", settings.log_json)
    if password is None:
        password = secrets.token_urlsafe(9)
    elif not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        typer.echo(f"rhythm: --password needs {MIN_LENGTH} to {MAX_LENGTH} characters.", err=True)
        raise typer.Exit(2)
    if settings.embedded and EmbeddedServers(settings.data_dir).postgres.running_elsewhere():
        typer.echo(
            f"rhythm: `rhythm serve` is running on {settings.data_dir}; stop it, then run"
            " the demo (it starts the embedded servers itself).",
            err=True,
        )
        raise typer.Exit(1)

    def progress(step: str) -> None:
        typer.echo(f"  {step}", err=True)

    def make_room(servers: Settings) -> None:
        assert servers.database_url is not None and servers.redis_url is not None
        if not migrations.holds_data(servers.database_url):
            return
        if not reset:
            typer.echo(
                "rhythm: this instance already holds data; `rhythm demo --reset` empties it"
                " and puts the demo world in its place.",
                err=True,
            )
            raise typer.Exit(1)
        if not yes:
            typer.confirm(
                f"Delete every account with all its data, and the catalog, on"
                f" {shown(servers.database_url)}?",
                abort=True,
                err=True,
            )
        typer.echo("Emptying the instance.", err=True)
        migrations.erase_data(servers.database_url)
        # Redis holds only what PostgreSQL can rebuild, and now nothing it could.
        client = Redis.from_url(servers.redis_url)
        try:
            client.flushdb()
        finally:
            client.close()

    def prepare(servers: Settings) -> None:
        make_room(servers)
        typer.echo("Building the demo world:", err=True)

    # What one context does when another changes (a follow moves feeds), as in the API.
    connect_contexts()

    async def run(resources):  # type: ignore[no-untyped-def]
        plan = world.build(utc_now(), resources.settings.focus_qualify_minutes)
        return await seed.populate(resources, plan, password, progress)

    try:
        summary = _operate(run, prepare, settings)
    except seed.SyncFailed as exc:
        typer.echo(f"rhythm: {exc}.", err=True)
        raise typer.Exit(1) from None
    assert isinstance(summary, seed.Summary)
    typer.echo(
        f"Sign in at http://{settings.host}:{settings.port}/ while `rhythm serve` runs"
        " (make run), as either of:"
    )
    width = max(len(login.email) for login in summary.logins)
    for login in summary.logins:
        typer.echo(f"  {login.email:<{width}}  {password}  {login.story}")
    typer.echo(f"{summary.line()} ({time.perf_counter() - began:.1f} s in all)")
