"""Composition root and command line of the Incident Command Console.

python main.py [--db URL] [--user HANDLE]          the console (default: the embedded SQLite database)
python main.py db upgrade --db URL                 apply migrations
python main.py seed-demo --db URL                  load the demo organisation into an empty database
python main.py policy load --db URL --reason WHY   load the impact policy as a new, audited version
python main.py ingest-server --db URL [--host H] [--port P]   signals in over HTTP (token: ICC_INGEST_TOKEN)
python main.py screenshot --out FILE.png [...]     render the main window offscreen to a PNG
python main.py audit verify|export|role-sql [...]  check, export or guard the audit trail (docs/AUDIT.md)
"""
from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path

VERSION = "0.1.0"
EXIT_ERROR = 2
log = logging.getLogger("main")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, metavar="URL",
                        help="SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
                             "(default: the embedded database in the user data directory)")
    common.add_argument("--user", default=argparse.SUPPRESS, metavar="HANDLE", help="who is at the keyboard")
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help="also log to stderr")
    parser = argparse.ArgumentParser(prog="main.py", description="Incident Command Console", parents=[common])
    parser.add_argument("--version", action="version", version=f"Incident Command Console {VERSION}")
    parser.add_argument("--no-demo-feed", action="store_true", help="do not run the live demo feed on demo data")
    parser.add_argument("--sandbox", action="store_true",
                        help="keep every message on this machine (always so on a database holding the demo organisation)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    db = sub.add_parser("db", help="database administration", parents=[common])
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="apply Alembic migrations", parents=[common])
    sub.add_parser("seed-demo", help="load the demo organisation into an empty database", parents=[common])
    policy = sub.add_parser("policy", help="the impact policy (severities, channels, routing rules)", parents=[common])
    policy_sub = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    load = policy_sub.add_parser("load", help="load a policy file as the new version (audited)", parents=[common])
    load.add_argument("--file", type=Path, default=None, help="policy TOML (default: the shipped policy)")
    load.add_argument("--reason", required=True, help="why the policy changes (goes in the audit trail)")
    ingest = sub.add_parser("ingest-server", help="accept Alertmanager, PagerDuty v2 and JSON signals over HTTP",
                            parents=[common])
    ingest.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    ingest.add_argument("--port", type=int, default=8742, help="port (0 picks a free one and prints it)")
    channel = sub.add_parser("channel", help="communication channels: list, and set/check/forget endpoints",
                             parents=[common])
    channel.add_argument("action", choices=("list", "set", "check", "forget"))
    channel.add_argument("name", nargs="?", help="the channel, as named in the impact policy")
    channel.add_argument("--stdin", action="store_true", help="set: read the endpoint as JSON from standard input")
    from console import audit_cli

    audit_cli.add_parser(sub, parents=[common])
    from console.mitigations import cli as mitigation_cli

    mitigation_cli.add_parsers(sub, parents=[common])
    shot = sub.add_parser("screenshot", help="render the main window offscreen to a PNG", parents=[common])
    shot.add_argument("--out", required=True, type=Path, metavar="FILE.png")
    shot.add_argument("--size", default="1600x1000", metavar="WxH")
    return parser


def setup_logging(*, verbose: bool) -> Path:
    """Log to a rotating file in the user log directory (and stderr with --verbose); return the file."""
    from platformdirs import user_log_path

    log_dir = user_log_path("incident-console", appauthor=False)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "console.log"
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    ]
    if verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=logging.INFO, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s", force=True)
    return log_file


def open_console_database(url: str | None):  # type: ignore[no-untyped-def]
    """Open the database the console works on: upgrade SQLite itself; seed the embedded default on first start."""
    from console.clock import SystemClock
    from console.db import default_database_url, open_database
    from console.schema import ensure_usable

    embedded = url is None
    db = open_database(_with_stored_password(url) if url else default_database_url(), create_parent=embedded,
                       must_exist=not embedded)
    # The console upgrades SQLite files itself; a shared PostgreSQL database is upgraded deliberately (db upgrade).
    try:
        ensure_usable(db, auto_upgrade=db.backend == "sqlite")
    except BaseException:
        db.dispose()  # a refused database leaves no connection behind for the garbage collector to close
        raise
    if embedded:
        from console.queries import has_organisation

        with db.reader() as session:
            empty = not has_organisation(session)
        if empty:
            from console import commands
            from console.uow import UnitOfWork

            log.info("first start: seeding the demo organisation into %s", db.display_url)
            commands.seed_demo(UnitOfWork(db, SystemClock()))
        else:
            from console.commands.demo import load_shipped_rights_on_demo

            load_shipped_rights_on_demo(UnitOfWork(db, SystemClock()))  # a demo file seeded before schema 0006
    return db, SystemClock()


def _with_stored_password(url: str) -> str:
    """Add the password remembered in the OS keyring to a PostgreSQL URL given without one."""
    from console.db import parse_url

    parsed = parse_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.password or not parsed.username or not parsed.host:
        return url
    from console.credentials import PasswordStore

    password = PasswordStore().get(user=parsed.username, host=parsed.host, port=parsed.port or 5432,
                                   database=parsed.database or "")
    return parsed.set(password=password).render_as_string(hide_password=False) if password else url


def require_organisation(db, *, user: str | None) -> None:  # type: ignore[no-untyped-def]
    """Refuse to open a console on a database with nobody in it, or for a user who is not in the roster."""
    from console.errors import NotFound
    from console.queries import find_person, has_organisation

    with db.reader() as session:
        if not has_organisation(session):
            raise NotFound(f"database {db.display_url} has no organisation yet: run "
                           f"`python main.py seed-demo --db URL` (or load your own organisation)")
        if user is not None and find_person(session, handle=user) is None:
            raise NotFound(f"--user {user!r}: nobody with that handle in the roster of {db.display_url}")


def run_console(args: argparse.Namespace, *, log_file: Path) -> int:
    db, clock = open_console_database(getattr(args, "db", None))
    user = getattr(args, "user", None)
    require_organisation(db, user=user)

    from platformdirs import user_data_path
    from PySide6.QtCore import QSettings

    from console.db import APP_NAME
    from ui.app import create_application, install_exception_dialog
    from ui.workspace import Workspace

    app = create_application(sys.argv[:1])
    # Kept actions (the outbox) live beside the app's data, one file per database.
    # Asked for, or on a database holding the demo organisation, nothing is sent: messages go to the sandbox outbox.
    workspace = Workspace(clock=clock, settings=QSettings(), data_dir=user_data_path(APP_NAME, appauthor=False),
                          demo_feed=not args.no_demo_feed, sandbox=args.sandbox)
    install_exception_dialog(parent=None, log_file=str(log_file))
    if os.environ.get("ICC_EXIT_AFTER_FIRST_PAINT"):
        workspace.on_switched = lambda window: _exit_after_first_paint(app, window)
    workspace.open(db, operator_handle=user)
    status = app.exec()
    workspace.shutdown()
    return status


def _exit_after_first_paint(app, window) -> None:  # type: ignore[no-untyped-def]
    """For bench/startup.py: say when the window first painted, then quit."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    class FirstPaint(QObject):
        def eventFilter(self, watched, event):  # type: ignore[no-untyped-def]
            if event.type() == QEvent.Type.Paint and watched is window:
                print(f"first-paint {time.perf_counter():.6f}", flush=True)
                app.removeEventFilter(self)
                QTimer.singleShot(0, window.close)
            return False

    window._first_paint_filter = FirstPaint(window)
    app.installEventFilter(window._first_paint_filter)


def run_screenshot(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        width, height = (int(part) for part in args.size.lower().split("x"))
    except ValueError:
        raise SystemExit(_fail(f"--size {args.size!r}: expected WIDTHxHEIGHT, for example 1600x1000")) from None
    out: Path = args.out
    if not out.parent.is_dir():
        raise SystemExit(_fail(f"--out {out}: folder {out.parent} does not exist"))
    db, clock = open_console_database(getattr(args, "db", None))
    user = getattr(args, "user", None)
    require_organisation(db, user=user)

    from console.queries import Reader
    from console.uow import UnitOfWork
    from ui.screenshot import render_main_window

    image_path = render_main_window(reader=Reader(db, clock), uow=UnitOfWork(db, clock), user=user,
                                    size=(width, height), out=out)
    print(f"wrote {image_path}")
    db.dispose()
    return 0


def run_db_upgrade(args: argparse.Namespace) -> int:
    from console.db import open_database
    from console.schema import upgrade

    db = open_database(_required_db(args))
    status = upgrade(db)
    print(f"{db.display_url}: schema {status.revision} ({status.state})")
    db.dispose()
    return 0


def run_seed_demo(args: argparse.Namespace) -> int:
    from console import commands
    from console.clock import SystemClock
    from console.db import open_database
    from console.schema import ensure_usable
    from console.uow import UnitOfWork

    db = open_database(_required_db(args))
    ensure_usable(db, auto_upgrade=db.backend == "sqlite")
    changes = commands.seed_demo(UnitOfWork(db, SystemClock()))
    print(f"{db.display_url}: demo organisation seeded ({len(changes.incidents)} open incidents)")
    db.dispose()
    return 0


def run_policy_load(args: argparse.Namespace) -> int:
    from console import commands
    from console.clock import SystemClock
    from console.db import open_database
    from console.queries import find_person
    from console.schema import ensure_usable
    from console.uow import UnitOfWork

    db = open_database(_required_db(args), must_exist=True)
    ensure_usable(db, auto_upgrade=db.backend == "sqlite")
    actor_id = None
    user = getattr(args, "user", None)
    if user:
        with db.reader() as session:
            person = find_person(session, handle=user)
        if person is None:
            raise SystemExit(_fail(f"--user {user!r}: nobody with that handle in the roster"))
        actor_id = person.id
    changes = commands.load_policy(UnitOfWork(db, SystemClock()), actor_id=actor_id, reason=args.reason,
                                   path=args.file)
    print(f"{db.display_url}: " + ("policy loaded as a new version" if changes.entities else
                                     "policy unchanged (same text as the current version)"))
    db.dispose()
    return 0


def run_channel(args: argparse.Namespace) -> int:
    import getpass

    from console.comms import channel_cli
    from console.comms.endpoints import EndpointStore
    from console.comms.wire import Endpoint
    from console.policy_store import stored_policy

    db, _clock = open_console_database(getattr(args, "db", None))
    with db.reader() as session:
        policy = stored_policy(session)
    db.dispose()
    store = EndpointStore()
    if args.action == "list":
        print("\n".join(channel_cli.describe(policy=policy, store=store)))
        return 0
    if not args.name:
        raise SystemExit(_fail(f"channel {args.action}: name the channel ({', '.join(policy.channels)})"))
    channel = policy.channel(name=args.name)
    if args.action == "forget":
        store.forget(channel.name)
        print(f"{channel.name}: endpoint forgotten")
        return 0
    if args.action == "check":
        return channel_cli.check_endpoint(channel=channel, store=store, out=sys.stdout)
    endpoint = (Endpoint.from_json(sys.stdin.read()) if args.stdin else
                channel_cli.ask_endpoint(channel=channel, ask=input, ask_secret=getpass.getpass))
    return channel_cli.set_endpoint(channel=channel, endpoint=endpoint, store=store, out=sys.stdout)


INGEST_TOKEN_ENV = "ICC_INGEST_TOKEN"
INGEST_TOKEN_KEY = "ingest-token"  # the keyring entry, under the app's service name


def run_ingest_server(args: argparse.Namespace) -> int:
    import signal
    import threading

    from console.clock import SystemClock
    from console.commands.ingest_sink import RoutingSink
    from console.db import open_database
    from console.ingest.server import IngestServer
    from console.queries import Reader
    from console.schema import ensure_usable
    from console.uow import UnitOfWork

    token = os.environ.get(INGEST_TOKEN_ENV) or _keyring_ingest_token()
    if not token:
        raise SystemExit(_fail(f"no ingest token: set {INGEST_TOKEN_ENV}, or store one in the OS keyring under "
                               f"service 'incident-console', user '{INGEST_TOKEN_KEY}'"))
    db = open_database(_required_db(args), must_exist=True)
    ensure_usable(db, auto_upgrade=db.backend == "sqlite")
    clock = SystemClock()
    uow = UnitOfWork(db, clock)
    sink = RoutingSink(uow=uow, reader=Reader(db, clock))
    server = IngestServer(sink=sink, token=token, clock=clock, host=args.host, port=args.port)
    server.start()
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    print(f"listening on http://{args.host}:{server.port} for {db.display_url} (policy "
          f"{sink.rules.engine().policy.version}; Ctrl+C stops)", flush=True)
    # With no console open, escalation goes on and rows written straight into the signals table are routed:
    # both are idempotent, and consoles do the same.
    ticks = 0
    while not stop.wait(1.0):
        ticks += 1
        # Apart, so that one failing never stops the other: paging must go on whatever rows the table holds.
        try:
            sink.route_pending()
        except Exception:  # noqa: BLE001 - retried in a second; the server stays up
            log.exception("routing the signals written into the table failed")
        if ticks % 5 == 0:
            try:
                sink.tick()
            except Exception:  # noqa: BLE001 - retried in 5 s; the server stays up
                log.exception("the escalation tick failed")
    server.stop()
    db.dispose()
    return 0


def _keyring_ingest_token() -> str | None:
    from console.credentials import keyring_status

    if not keyring_status().available:
        return None
    import keyring

    return keyring.get_password("incident-console", INGEST_TOKEN_KEY)


def _required_db(args: argparse.Namespace) -> str:
    url = getattr(args, "db", None)
    if not url:
        raise SystemExit(_fail("--db URL is required for this command"))
    return url


def _fail(message: str) -> int:
    # One line, always: driver and SQL errors can span many; the whole story is in the log file.
    first = next((line.strip() for line in str(message).splitlines() if line.strip()), "failed")
    print(f"error: {first}", file=sys.stderr)
    return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log_file = setup_logging(verbose=getattr(args, "verbose", False))
    from console.errors import ConsoleError

    try:
        if args.command == "db":
            return run_db_upgrade(args)
        if args.command == "seed-demo":
            return run_seed_demo(args)
        if args.command == "policy":
            return run_policy_load(args)
        if args.command == "ingest-server":
            return run_ingest_server(args)
        if args.command == "channel":
            return run_channel(args)
        if args.command == "screenshot":
            return run_screenshot(args)
        if args.command in ("rights", "signing-key", "mitigation"):
            from console.mitigations import cli as mitigation_cli

            from console import commands

            return mitigation_cli.run(args, open_db=lambda: open_console_database(getattr(args, "db", None))[0],
                                      commands=commands)
        if args.command == "audit":
            from console import audit_cli

            return audit_cli.run(args, with_password=_with_stored_password)
        return run_console(args, log_file=log_file)
    except ConsoleError as error:
        log.warning("%s", error)
        return _fail(str(error))
    except Exception as error:  # noqa: BLE001 - the promise is one clear line, never a traceback
        log.exception("unexpected error")
        return _fail(f"unexpected {type(error).__name__}: {error} (details in {log_file})")


if __name__ == "__main__":
    sys.exit(main())
