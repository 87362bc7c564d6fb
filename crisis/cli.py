"""The ``crisis`` command: run the dashboard, manage users and tokens, rebuild state."""

from __future__ import annotations

import os

# H6 (issue 10): CRISIS_ASYNC_MODE=gevent serves the socket with greenlets; gevent must patch
# the standard library before anything (redis, threading, sockets) is imported.
if (os.environ.get("CRISIS_ASYNC_MODE") or "").strip().lower() == "gevent":
    from gevent import monkey

    monkey.patch_all()

import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from crisis.adapters.accounts import ROLES
from crisis.config import Settings
from crisis.domain.regions import REGIONS

DEMO_USERS = (
    ("duty", "duty_officer", None, "Duty officer, all regions"),
    ("wall", "wall", None, "Wall display, read-only, counts not names"),
    ("mena", "regional_desk", "middle_east_north_africa", "Middle East and North Africa desk"),
)
DEMO_PASSWORD = "demo"


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj  # type: ignore[no-any-return]


@click.group()
@click.option("--log-level", default="WARNING", show_default=True, help="Python logging level.")
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """Crisis Coordination Centre: real-time operations dashboard.

    Configuration comes from the environment (REDIS_URL, SECRET_KEY, CRISIS_DATA_DIR,
    CRISIS_HOST, CRISIS_PORT, ...; see the README).
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One line per HTTP request drowns what matters; raise --log-level to INFO to see them.
    logging.getLogger("werkzeug").setLevel(max(logging.WARNING, logging.getLevelName(log_level.upper())))
    ctx.obj = Settings.from_env()


def _serve(settings: Settings, host: str, port: int, simulate: bool, banner: list[str]) -> None:
    from crisis.web import create_app

    app = create_app(settings)
    runner = None
    if simulate:
        from crisis.sim.runner import SimulationRunner

        runner = SimulationRunner(app.context.deps, app.context.deps.positions, feed_log=app.context.feed_log,
                                  context=app.context)
        runner.start()
    for line in banner:
        click.echo(line)
    sys.stdout.flush()
    # `docker stop` and systemd send SIGTERM: leave through the cleanup below, like Ctrl-C,
    # so the simulator and pollers stop and an embedded Redis we started shuts down cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        app.run(host, port)
    finally:
        if runner is not None:
            runner.stop()
        app.close()


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default CRISIS_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default CRISIS_PORT or 8050).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the dashboard, API and live gateway."""
    settings = _settings(ctx)
    host, port = host or settings.host, port or settings.port
    _serve(settings, host, port, simulate=False, banner=[f"Crisis Coordination Centre on http://{host}:{port}/"])


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default 8050).")
@click.pass_context
def demo(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run everything with a live scenario and demo logins."""
    from crisis.bootstrap import bootstrap

    settings = _demo_feeds(_settings(ctx))
    host, port = host or settings.host, port or settings.port
    context = bootstrap(settings)
    for name, role, region, _ in DEMO_USERS:
        if context.accounts.user_info(name) is None:  # a disabled demo user stays disabled
            context.accounts.add_user(name, DEMO_PASSWORD, role, region)
    context.redis.close()  # the app opens its own connection; the server keeps running
    banner = [
        "",
        f"  Crisis Coordination Centre demo: http://{host}:{port}/",
        *(f"  login {name:5} / {DEMO_PASSWORD}   {label}" for name, _, _, label in DEMO_USERS),
        f"  data: {settings.data_dir}  (embedded Redis unless REDIS_URL is set)",
        *(_feed_banner(settings)),
        "  stop with Ctrl-C",
        "",
    ]
    _serve(settings, host, port, simulate=True, banner=banner)


DEMO_USGS_MIN_MAGNITUDE = 4.0


def _demo_feeds(settings: Settings) -> Settings:
    """Poll the bundled GDACS and USGS samples in the demo, unless real URLs are set.

    Earthquakes under magnitude 4 are skipped unless CRISIS_USGS_MIN_MAGNITUDE says
    otherwise: the day's feed holds hundreds of small ones that would bury the scenario.
    """
    import crisis

    samples = Path(crisis.__file__).resolve().parents[1] / "tests" / "samples"
    changes: dict[str, str] = {}
    for name, sample in (("gdacs_url", samples / "gdacs" / "gdacs-rss.xml"),
                         ("usgs_url", samples / "usgs" / "all_day_2019-01-30.geojson")):
        if getattr(settings, name) is None and sample.is_file():
            changes[name] = str(sample)
    if "usgs_url" in changes and settings.usgs_min_magnitude is None:
        changes["usgs_min_magnitude"] = DEMO_USGS_MIN_MAGNITUDE
    return settings.with_(**changes) if changes else settings


def _feed_banner(settings: Settings) -> list[str]:
    from crisis.feeds.pollers import display_location, feed_sources

    if not settings.feeds_enabled:
        return ["  feeds: off (CRISIS_FEEDS=0)"]
    lines = [f"  feed {s.feed:5} every {s.interval:.0f} s: {display_location(s.location)}" for s in feed_sources(settings)]
    if settings.usgs_url and settings.usgs_min_magnitude is not None:
        lines.append(f"  usgs: earthquakes under magnitude {settings.usgs_min_magnitude:g} skipped")
    return lines


@main.command("ingest")
@click.argument("feed", type=click.Choice(("cap", "gdacs", "usgs", "travellers", "roster")))
@click.argument("location")
@click.pass_context
def ingest_command(ctx: click.Context, feed: str, location: str) -> None:
    """Ingest one feed document from LOCATION (a path, or an http/https/file URL).

    Prints what it did. Exit status 1 when the document, or any item of it, was
    rejected (the errors are printed; good items are stored; the rejected ones are in
    the dead-letter stream).

    travellers: LOCATION is a file, JSON or CSV (by its .csv suffix); each rejected row
    is printed with its row number and field.

    roster: LOCATION is a file of the standby roster's officers, JSON or CSV (by its .csv
    suffix; columns in ``crisis.feeds.roster``); each rejected row is printed with its row
    number and field, and dead-lettered (feed "roster"); a known officer is updated in place.
    """
    if feed == "travellers":
        _ingest_travellers(ctx, Path(location))
        return
    if feed == "roster":
        _ingest_roster(ctx, Path(location))
        return
    from crisis.feeds.intake import MessageRejected, ingest
    from crisis.feeds.pollers import ACCEPT, MAX_BYTES, Fetcher, FetchError

    settings = _settings(ctx)
    fetcher = Fetcher(settings.feed_user_agent)
    try:
        body = fetcher.fetch(location, MAX_BYTES[feed], ACCEPT[feed], conditional=False).body or b""
    except FetchError as exc:
        raise click.ClickException(f"cannot read {location}: {exc}") from None
    finally:
        fetcher.close()
    try:
        def run(c: Any) -> Any:
            outcome = ingest(c, feed, body, "cli")
            counts = {k: getattr(outcome, k) for k in ("accepted", "created", "updated", "unchanged")}
            _audit(c, "feed.post", feed, after={**counts, "rejected": len(outcome.rejected)}, detail={"location": location})
            return outcome

        result = _with_context(settings, run)
    except MessageRejected as exc:
        click.echo(f"{feed}: rejected ({exc.message}, HTTP {exc.status}); dead letter {exc.dead_letter_id}", err=True)
        for error in exc.errors:
            click.echo(f"  {error['field']}: {error['message']}", err=True)
        ctx.exit(1)
    click.echo(result.summary())
    for incident in result.incidents[:20]:
        click.echo(f"  {incident.id}  {incident.status.value:9}  severity {incident.severity}  {incident.title}")
    if len(result.incidents) > 20:
        click.echo(f"  ... and {len(result.incidents) - 20} more")
    for item in result.rejected:
        click.echo(f"  rejected {item['field']}: {item['message']} (dead letter {item['dead_letter_id']})", err=True)
    if result.rejected:
        ctx.exit(1)


def _ingest_travellers(ctx: click.Context, path: Path) -> None:
    """``crisis ingest travellers PATH``: a JSON or CSV export, with a progress bar."""
    from crisis.feeds import travellers

    _ingest_people(ctx, path, travellers.intake, travellers.CSV_TYPES, "travellers", "travellers.import", "travellers",
                   "travellers")


def _ingest_roster(ctx: click.Context, path: Path) -> None:
    """``crisis ingest roster PATH``: the officers, JSON or CSV, with a progress bar."""
    from crisis.feeds import roster

    _ingest_people(ctx, path, roster.intake, roster.CSV_TYPES, roster.FEED, "roster.officers_import", "roster officers",
                   "officers")


def _ingest_people(ctx: click.Context, path: Path, intake: Any, csv_types: Any, feed: str, action: str, label: str,
                   noun: str) -> None:
    """An import of people (JSON, or CSV by the file's .csv suffix) through ``intake``, as the
    API takes it: a progress bar, the audit entry, each rejected row on stderr (exit 1)."""
    from crisis.errors import InputError

    settings = _settings(ctx)
    if not path.is_file():
        raise click.ClickException(f"cannot read {path}: not a file")
    body = path.read_bytes()
    content_type = "text/csv" if path.suffix.lower() == ".csv" else "application/json"
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=max(total, 1), label=f"validating {total} {noun}", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    def run(context: Any) -> Any:
        try:
            outcome = intake(context, body, content_type, "cli", {"remote": "cli"}, progress)
            _audit(context, action, feed,
                   after={"accepted": outcome["accepted"], "updated": outcome["updated"], "rejected": len(outcome["rejected"])},
                   detail={"location": str(path)})
            return outcome
        except InputError as exc:
            dead = context.feed_log.rejected(feed, exc.errors, body, {"remote": "cli"})
            click.echo(f"{feed}: rejected ({exc.message}); dead letter {dead}", err=True)
            for error in exc.errors:
                click.echo(f"  {error['field']}: {error['message']}", err=True)
            return None
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)

    result = _with_context(settings, run)
    if result is None:
        ctx.exit(1)
    kind = "CSV" if content_type in csv_types else "JSON"
    click.echo(f"{label} ({kind}): {result['accepted']} accepted, {result['updated']} updated, "
               f"{len(result['rejected'])} rejected")
    for item in result.get("warnings") or []:
        click.echo(f"  warning row {item['row']} {item['field']}: {item['message']}", err=True)
    for item in result["rejected"]:
        click.echo(f"  rejected row {item['row']} {item['field']}: {item['message']} (dead letter {item['dead_letter_id']})", err=True)
    if result["rejected"]:
        ctx.exit(1)


@main.command("feeds")
@click.pass_context
def feeds_command(ctx: click.Context) -> None:
    """Poll the feeds (CRISIS_GDACS_URL, CRISIS_USGS_URL, CRISIS_CAP_URL) and listen for
    Cursor-on-Target from handsets (TCP and UDP on CRISIS_COT_PORT, default 8087, bound to
    CRISIS_COT_HOST, default 127.0.0.1; CRISIS_COT_PORT=0 turns it off) until Ctrl-C.

    For a feed process of its own: run the web process with CRISIS_FEEDS=0 then, or both
    would poll. Every document goes through the feeds inbox (consumer group "intake"): one
    killed mid-work leaves it pending, and this process (restarted) or another claims it.
    """
    from crisis.bootstrap import bootstrap
    from crisis.feeds.cot_listener import CotListener
    from crisis.feeds.inbox import InboxWorker
    from crisis.feeds.pollers import Pollers, feed_sources

    settings = _settings(ctx)
    if not feed_sources(settings) and not settings.cot_port:
        raise click.UsageError("no feed to poll: set CRISIS_GDACS_URL, CRISIS_USGS_URL or CRISIS_CAP_URL, "
                               "or CRISIS_COT_PORT for the CoT listener")
    context = bootstrap(settings)
    inbox = InboxWorker.from_settings(context, settings)
    pollers = Pollers.from_settings(context, settings, inbox)
    try:
        listener = CotListener.from_settings(context, settings, inbox)
    except OSError as exc:
        context.close()
        raise click.ClickException(f"cannot listen for CoT on {settings.cot_host}:{settings.cot_port}: {exc}") from None
    signal.signal(signal.SIGTERM, lambda *_: pollers.stop())
    for line in _feed_banner(settings):
        click.echo(line.strip())
    if listener is not None:
        click.echo(listener.describe())
    click.echo(f"inbox consumer {inbox.consumer}")
    click.echo("stop with Ctrl-C")
    sys.stdout.flush()
    inbox.start()
    pollers.start()
    if listener is not None:
        listener.start()
    try:
        pollers.wait()
    except KeyboardInterrupt:
        pass
    finally:
        pollers.stop()
        if listener is not None:
            listener.stop()
        inbox.stop()
        context.close()


@main.group()
def devices() -> None:
    """Manage the device table: which traveller carries which handset (CoT uid)."""


@devices.command("add")
@click.argument("uid")
@click.argument("traveller_id")
@click.pass_context
def devices_add(ctx: click.Context, uid: str, traveller_id: str) -> None:
    """Map the handset UID to TRAVELLER_ID (who must be imported); a known UID is mapped anew."""
    from crisis.adapters.device_store import DeviceStore
    from crisis.errors import InputError
    from crisis.feeds.cot import DeviceIn
    from crisis.feeds.schemas import parse
    from crisis.handlers_cot import add_device

    try:
        command = parse(DeviceIn, {"uid": uid, "traveller_id": traveller_id})
    except InputError as exc:
        raise click.BadParameter("; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)) from None

    def add(c: Any) -> Any:
        try:
            before, after = add_device(c.deps, DeviceStore(c.redis), command, _cli_actor())
        except InputError as exc:
            raise click.ClickException("; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)) from None
        _audit(c, "device.add", command.uid, before=before, after=after)
        return before

    before = _with_context(_settings(ctx), add)
    was = f" (was {before['traveller_id']})" if before else ""
    click.echo(f"device {command.uid} -> {command.traveller_id}{was}")


@devices.command("list")
@click.pass_context
def devices_list(ctx: click.Context) -> None:
    """List devices: uid, traveller, added, last event (time, fix or no fix)."""
    from crisis.adapters.device_store import DeviceStore

    for device in _with_context(_settings(ctx), lambda c: DeviceStore(c.redis).all()):
        seen = device["last_seen"]
        last = f"{seen['time']} {'fix' if seen['fix'] else 'no fix'}" if seen else "never seen"
        click.echo(f"{device['uid']}\t{device['traveller_id']}\t{device['added_at']}\t{last}")


@devices.command("remove")
@click.argument("uid")
@click.pass_context
def devices_remove(ctx: click.Context, uid: str) -> None:
    """Take the handset UID out of the table: its later events are refused as unknown."""
    from crisis.adapters.device_store import DeviceStore
    from crisis.errors import NotFound
    from crisis.handlers_cot import remove_device

    def remove(c: Any) -> Any:
        try:
            before = remove_device(c.deps, DeviceStore(c.redis), uid, _cli_actor())
        except NotFound as exc:
            raise click.ClickException(str(exc)) from None
        _audit(c, "device.remove", uid, before=before)
        return before

    before = _with_context(_settings(ctx), remove)
    click.echo(f"device {uid} removed (was {before['traveller_id']})")


@main.group()
def users() -> None:
    """Manage dashboard users."""


def _read_password(confirm: bool = True) -> str:
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    if len(password) < 4:
        raise click.BadParameter("the password must have at least 4 characters", param_hint="password")
    return password


def _check_account(name: str, role: str, region: str | None) -> None:
    """A user's or token's name, role and region, checked before Redis is opened."""
    from crisis.errors import InputError
    from crisis.feeds.schemas import UserIn, parse

    try:
        parse(UserIn, {"name": name, "role": role, "region": region})
    except InputError as exc:
        raise click.BadParameter("; ".join(e["message"] for e in exc.errors), param_hint="NAME") from None
    _check_region(role, region)


def _check_region(role: str, region: str | None) -> None:
    for code in (region or "").split(","):
        if region is not None and code not in REGIONS:
            raise click.BadParameter(f"unknown region {code!r}; one of: {', '.join(REGIONS)}", param_hint="--region")
    if role == "regional_desk" and region is None:
        raise click.BadParameter("a regional_desk user needs --region", param_hint="--region")


def _regions_option(values: tuple[str, ...]) -> str | None:
    """The --region values (repeated, or codes joined by ",") as one comma list, each once;
    None for none. A regional desk may be granted several regions."""
    codes = [c.strip() for v in values for c in v.split(",") if c.strip()]
    return ",".join(dict.fromkeys(codes)) or None


_REGION_HELP = f"Regional desk's region; repeat it (or join codes with commas) for several: {', '.join(REGIONS)}."


def _with_context(settings: Settings, action: Any) -> Any:
    from crisis.bootstrap import bootstrap

    context = bootstrap(settings)
    try:
        return action(context)
    finally:
        context.close()


def _cli_actor() -> str:
    """Who ran the command, for the audit trail: the operating system's user."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        return f"uid:{os.getuid()}"


def _audit(context: Any, action: str, target: str, before: Any = None, after: Any = None, detail: Any = None) -> None:
    import socket

    context.audit.record(action, actor=_cli_actor(), role="", via="cli", remote=socket.gethostname(), target=target,
                         before=before, after=after, detail=detail)


def _account_action(settings: Settings, action: Any) -> Any:
    """Run ``action(context)``; an unknown account is a clean error, not a traceback."""
    from crisis.adapters.accounts import NoSuchAccount

    try:
        return _with_context(settings, action)
    except NoSuchAccount as exc:
        raise click.ClickException(str(exc)) from None


# Dashboard users: every role but the token-only ones that may only check in.
USER_ROLES = tuple(r for r in ROLES if r not in ("traveller", "warden"))


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(USER_ROLES))
@click.option("--region", "regions", multiple=True, help=_REGION_HELP)
@click.pass_context
def users_add(ctx: click.Context, name: str, role: str, regions: tuple[str, ...]) -> None:
    """Add (or replace) a user. The password is read from stdin or prompted for.

    Replacing a user ends every session it had.
    """
    region = _regions_option(regions)
    _check_account(name, role, region)
    password = _read_password()

    def add(c: Any) -> None:
        before = c.accounts.user_info(name)
        c.accounts.add_user(name, password, role, region)
        _audit(c, "user.add", name, before=before.as_dict() if before else None, after=c.accounts.user_info(name).as_dict())

    _with_context(ctx.obj, add)
    click.echo(f"user {name} ({role}{', ' + region if region else ''}) saved")


@users.command("passwd")
@click.argument("name")
@click.pass_context
def users_passwd(ctx: click.Context, name: str) -> None:
    """Set a user's password (read from stdin or prompted for); ends every session it had."""
    password = _read_password()

    def passwd(c: Any) -> None:
        c.accounts.set_password(name, password)
        _audit(c, "user.passwd", name, detail={"sessions": "ended"})

    _account_action(ctx.obj, passwd)
    click.echo(f"password of {name} changed; its sessions are ended")


@users.command("change")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(USER_ROLES))
@click.option("--region", "regions", multiple=True, help=_REGION_HELP)
@click.pass_context
def users_change(ctx: click.Context, name: str, role: str, regions: tuple[str, ...]) -> None:
    """Change a user's role (and regions). It takes effect at once, on open sessions too."""
    region = _regions_option(regions)
    _check_account(name, role, region)

    def change(c: Any) -> None:
        before, after = c.accounts.change_user(name, role, region)
        _audit(c, "user.change", name, before=before.as_dict(), after=after.as_dict())

    _account_action(ctx.obj, change)
    click.echo(f"user {name} is now {role}{', ' + region if region else ''}")


def _set_disabled(settings: Settings, name: str, disabled: bool) -> None:
    def apply(c: Any) -> None:
        before, after = c.accounts.set_disabled(name, disabled)
        _audit(c, "user.disable" if disabled else "user.enable", name, before=before.as_dict(), after=after.as_dict())

    _account_action(settings, apply)


@users.command("disable")
@click.argument("name")
@click.pass_context
def users_disable(ctx: click.Context, name: str) -> None:
    """Disable a user: no sign-in; its sessions, sockets and tokens stop working."""
    _set_disabled(ctx.obj, name, True)
    click.echo(f"user {name} disabled")


@users.command("enable")
@click.argument("name")
@click.pass_context
def users_enable(ctx: click.Context, name: str) -> None:
    """Enable a disabled user again (it signs in anew)."""
    _set_disabled(ctx.obj, name, False)
    click.echo(f"user {name} enabled")


@users.command("remove")
@click.argument("name")
@click.pass_context
def users_remove(ctx: click.Context, name: str) -> None:
    """Remove a user, and the API tokens of the same name."""

    def remove(c: Any) -> int:
        tokens = sum(1 for t in c.accounts.tokens() if t.name == name)
        before = c.accounts.remove_user(name)
        _audit(c, "user.remove", name, before=before.as_dict(), detail={"tokens_revoked": tokens})
        return tokens

    tokens = _account_action(ctx.obj, remove)
    click.echo(f"user {name} removed" + (f", and {tokens} token(s) of that name revoked" if tokens else ""))


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """List users: name, role, region, status, created."""
    for user in _with_context(ctx.obj, lambda c: c.accounts.user_list()):
        status = "disabled" if user.disabled else "active"
        click.echo(f"{user.name}\t{user.role}\t{','.join(user.regions) or '-'}\t{status}\t{user.created or '-'}")


@main.group()
def tokens() -> None:
    """Manage API tokens (for feeds and integrations)."""


@tokens.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--region", "regions", multiple=True, help="Region(s), for a regional_desk token (repeat, or a comma list).")
@click.option("--traveller", "traveller_id", default=None,
              help="For a traveller token: the one person it checks in for (must be imported).")
@click.pass_context
def tokens_create(ctx: click.Context, name: str, role: str, regions: tuple[str, ...], traveller_id: str | None) -> None:
    """Create an API token. It is printed once, alone on the last line; only its hash is kept.

    A "traveller" token (--traveller ID) and a "warden" token (people assigned with
    `crisis wardens assign`) may only post check-ins."""
    region = _regions_option(regions)
    if role in ("traveller", "warden"):
        _check_account(name, "feed", region)  # the same name rules; these roles have no user
    else:
        _check_account(name, role, region)
    if (role == "traveller") != (traveller_id is not None):
        raise click.BadParameter("--traveller ID is required for a traveller token, and only for one", param_hint="--traveller")

    def create(c: Any) -> str:
        if traveller_id is not None and c.deps.travellers.get(traveller_id) is None:
            raise click.ClickException(f"no traveller {traveller_id!r}: import the travellers first")
        token = c.accounts.create_token(name, role, region, traveller_id=traveller_id)
        after = {"name": name, "role": role, "region": region}
        if traveller_id is not None:
            after["traveller_id"] = traveller_id
        _audit(c, "token.create", name, after=after)
        return str(token)

    token = _with_context(ctx.obj, create)
    click.echo(f"token for {name} ({role}) created; store it now, it cannot be shown again:")
    click.echo(token)


@tokens.command("list")
@click.pass_context
def tokens_list(ctx: click.Context) -> None:
    """List API tokens: name, role, region, created (never the token)."""
    for token in _with_context(ctx.obj, lambda c: c.accounts.tokens()):
        click.echo(f"{token.name}\t{token.role}\t{','.join(token.regions) or '-'}\t{token.created or '-'}")


@tokens.command("revoke")
@click.argument("name")
@click.pass_context
def tokens_revoke(ctx: click.Context, name: str) -> None:
    """Revoke every API token of that name; they stop working at once (open sockets too)."""

    def revoke(c: Any) -> int:
        before = [t.as_dict() for t in c.accounts.tokens() if t.name == name]
        count = int(c.accounts.revoke_tokens(name))
        if count:
            _audit(c, "token.revoke", name, before=before, detail={"revoked": count})
        return count

    count = _with_context(ctx.obj, revoke)
    if not count:
        raise click.ClickException(f"no token named {name!r}")
    click.echo(f"{count} token(s) of {name} revoked")


@main.group()
def displays() -> None:
    """Wall displays: long-lived, revocable display links and pairing codes (a wall sees counts, never names)."""


def _display_base(settings: Settings, url: str | None) -> str:
    return url or os.environ.get("CRISIS_PUBLIC_URL") or f"http://{settings.host}:{settings.port}"


@displays.command("add")
@click.argument("name")
@click.option("--url", default=None, help="The dashboard's address as the display reaches it "
                                          "(default CRISIS_PUBLIC_URL, else http://CRISIS_HOST:CRISIS_PORT).")
@click.pass_context
def displays_add(ctx: click.Context, name: str, url: str | None) -> None:
    """Make a display link. Open it once on the wall's browser: it stays signed in (restarts
    too) until `crisis displays revoke NAME`. The link is printed once, alone on the last line."""
    from crisis.auth import display

    _check_account(name, display.DISPLAY_ROLE, None)

    def add(c: Any) -> str:
        try:
            token = display.add_display(c.accounts, name)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        _audit(c, "display.add", name, after={"name": name, "role": display.DISPLAY_ROLE})
        return token

    token = _with_context(ctx.obj, add)
    click.echo(f"display {name} created; open this link once on the wall's browser (it signs the wall in, keep it secret):")
    click.echo(display.display_url(_display_base(ctx.obj, url), token))


@displays.command("list")
@click.pass_context
def displays_list(ctx: click.Context) -> None:
    """List the displays: name, created (never the token)."""
    from crisis.auth import display

    for token in _with_context(ctx.obj, lambda c: display.displays(c.accounts)):
        click.echo(f"{token.name}\t{token.created or '-'}")


@displays.command("revoke")
@click.argument("name")
@click.pass_context
def displays_revoke(ctx: click.Context, name: str) -> None:
    """End a display at once: its pages are refused and its live connection is closed."""
    from crisis.auth import display

    def revoke(c: Any) -> int:
        before = [t.as_dict() for t in display.displays(c.accounts) if t.name == name]
        try:
            count = display.revoke_display(c.accounts, name)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        if count:
            _audit(c, "display.revoke", name, before=before, detail={"revoked": count})
        return count

    count = _with_context(ctx.obj, revoke)
    if not count:
        raise click.ClickException(f"no display named {name!r}")
    click.echo(f"display {name} revoked ({count} link(s)); it is signed out now")


@displays.command("pair")
@click.argument("code")
@click.argument("name")
@click.pass_context
def displays_pair(ctx: click.Context, code: str, name: str) -> None:
    """Sign in the screen showing CODE (opened at /wall/pair) as display NAME."""
    from crisis.auth import display

    _check_account(name, display.DISPLAY_ROLE, None)

    def pair(c: Any) -> None:
        try:
            display.pair_display(c.redis, c.accounts, code, name)
        except (LookupError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        _audit(c, "display.pair", name, after={"name": name, "role": display.DISPLAY_ROLE})

    _with_context(ctx.obj, pair)
    click.echo(f"display {name} paired; the screen signs in within a few seconds")


@main.group()
def wardens() -> None:
    """Assign people to wardens (a warden's token may check in only for them)."""


def _warden_change(settings: Settings, name: str, add: tuple[str, ...], remove: tuple[str, ...]) -> set[str]:
    def change(c: Any) -> set[str]:
        if add:
            unknown = sorted(set(add) - c.deps.travellers.existing(list(add)))
            if unknown:
                raise click.ClickException(f"no traveller {', '.join(map(repr, unknown))}: import the travellers first")
        before, after = c.accounts.assign_warden(name, add, remove)
        _audit(c, "warden.assign" if add else "warden.unassign", name, before=sorted(before), after=sorted(after),
               detail={"added": sorted(set(add)), "removed": sorted(set(remove))})
        return set(after)

    return set(_account_action(settings, change))


@wardens.command("assign")
@click.argument("name")
@click.argument("traveller_ids", nargs=-1, required=True)
@click.pass_context
def wardens_assign(ctx: click.Context, name: str, traveller_ids: tuple[str, ...]) -> None:
    """Give the warden NAME (a warden token of that name) these people to report for."""
    people = _warden_change(ctx.obj, name, traveller_ids, ())
    click.echo(f"warden {name} now reports for {len(people)} people")


@wardens.command("unassign")
@click.argument("name")
@click.argument("traveller_ids", nargs=-1, required=True)
@click.pass_context
def wardens_unassign(ctx: click.Context, name: str, traveller_ids: tuple[str, ...]) -> None:
    """Take these people from the warden NAME."""
    people = _warden_change(ctx.obj, name, (), traveller_ids)
    click.echo(f"warden {name} now reports for {len(people)} people")


@main.command()
@click.pass_context
def rebuild(ctx: click.Context) -> None:
    """Rebuild the incident projection from the event log."""
    from crisis.adapters.incident_store import IncidentStore

    count = _with_context(ctx.obj, lambda c: IncidentStore(c.redis).rebuild(c.deps.log))
    click.echo(f"replayed {count} incident events")


# --- backup and restore (issue 10, H4; crisis.adapters.backup) ------------------------------
def _with_raw_redis(settings: Settings, action: Any) -> Any:
    """Run ``action(client)`` on a client that keeps bytes (no bootstrap: no basemap load)."""
    from crisis.adapters.backup import BackupError
    from crisis.adapters.redis_server import open_redis

    handle = open_redis(settings)
    client = handle.client(decode=False)
    try:
        return action(client)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the backup file: no such directory, no permission, disk full
        raise click.ClickException(f"{exc.filename or ''}: {exc.strerror or exc}") from None
    finally:
        client.close()
        handle.stop()


@main.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def backup_command(ctx: click.Context, path: Path) -> None:
    """Write every key of the product (logs with their ids, projections, accounts, audit,
    consumer groups, TTLs) to PATH: JSON lines, gzip when PATH ends in .gz, mode 0600.

    Safe while `crisis serve` runs: one MULTI/EXEC snapshot, then the streams up to it."""
    from crisis.adapters.backup import write_backup

    summary = _with_raw_redis(_settings(ctx), lambda client: write_backup(client, path))
    click.echo(f"backup {path}: {summary.describe()}")


@main.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Restore into a database that has keys: the product's keys are deleted first.")
@click.pass_context
def restore_command(ctx: click.Context, path: Path, force: bool) -> None:
    """Restore a `crisis backup` file (stream ids, groups and TTLs kept) into an empty database.

    Stop the web and feeds processes first (or restart them after): they keep state in memory."""
    from crisis.adapters.backup import restore_backup

    summary = _with_raw_redis(_settings(ctx), lambda client: restore_backup(client, path, force=force))
    click.echo(f"restored {path}: {summary.describe()}")


@main.command("retention")
@click.pass_context
def retention_command(ctx: click.Context) -> None:
    """Each stream: its retention setting and limit, entries kept, memory, oldest entry."""
    from crisis.adapters.retention import retention_report

    settings = _settings(ctx)
    click.echo("stream\tsetting\tlimit\tentries\tmemory_bytes\toldest")
    for row in _with_raw_redis(settings, lambda client: retention_report(client, settings)):
        click.echo("\t".join(str(v) for v in row))


@main.command("audit")
@click.option("--since", default=None, help="Entries at or after this time: ISO 8601 with a time zone (2024-05-01T00:00:00Z).")
@click.option("--until", default=None, help="Entries at or before this time: ISO 8601 with a time zone.")
@click.option("--actor", default=None, help="Entries by this user or token name.")
@click.option("--action", default=None, help='This action ("incident.update"), or a prefix ending in "." ("auth.").')
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Only the newest N entries that match (still printed oldest first).")
@click.pass_context
def audit_command(ctx: click.Context, since: str | None, until: str | None, actor: str | None, action: str | None,
                  limit: int | None) -> None:
    """Print the audit trail as JSON lines, oldest first: who did what, when, from where.

    Without --limit, every entry that matches, read in batches.
    """
    import dataclasses
    import json

    from crisis.api.audit import parse_query
    from crisis.errors import InputError

    args = {"since": since, "until": until, "actor": actor, "action": action}
    try:
        query = parse_query({k: v for k, v in args.items() if v is not None})
    except InputError as exc:
        raise click.BadParameter("; ".join(e["message"] for e in exc.errors),
                                 param_hint=", ".join(f"--{e['field']}" for e in exc.errors)) from None

    def show(context: Any) -> None:
        if limit is None:
            entries = context.audit.entries(query)
        else:
            entries = reversed(context.audit.page(dataclasses.replace(query, limit=limit)).entries)
        for entry in entries:
            click.echo(json.dumps(entry, ensure_ascii=False))

    _with_context(_settings(ctx), show)


if __name__ == "__main__":  # pragma: no cover
    main()
