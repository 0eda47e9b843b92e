"""The ``serve``, ``send`` and ``users`` commands (``marc8fast`` CLI; see :mod:`marc8fast.cli`)."""

from __future__ import annotations

import argparse
import getpass
import os
import ssl
import sys
from typing import Any

from ..catalog import add_db_option

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR = 0, 1, 2

PASSWORD_ENV = "MARC8FAST_PASSWORD"

#: The shortest password ``users add`` and ``users passwd`` accept (issue 18, item 14).
MIN_PASSWORD = 8


def _address(text: str) -> tuple[str, int]:
    from .serve import parse_address

    try:
        return parse_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(kind: type[Any]) -> Any:
    def conv(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not v >= 0 or v == float("inf"):
            raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
        return v

    return conv


def add_parsers(sub: Any) -> None:
    s = sub.add_parser(
        "serve",
        help="run the catalog's network services (Connexion receiver, Z39.50/SRU)",
        description="Receive OCLC Connexion gateway exports (F5) into the catalog with the rules "
        "of `marc8fast load`, and/or serve Z39.50/SRU. Set up: `marc8fast users add UNIT --db "
        "CATALOG`, then `marc8fast serve --db CATALOG --connexion 7090` and point Connexion's "
        "gateway export at this host and port (docs/connexion.md). A record is answered "
        '"Record received: SYSNO" only once it is committed to disk. One log line per request; '
        "SIGTERM drains and exits 0, SIGHUP reopens the log file.",
        epilog="Exit status: 0 stopped by SIGTERM/SIGINT; 2 cannot start (no catalog, no "
        "account without --no-auth, port in use, a --log over the catalog or an input), or the "
        "Z39.50/SRU service could not be kept up (it died more than 5 times in 60 s; "
        "docs/z3950.md).",
    )
    add_db_option(s, "never made here: `marc8fast catalog init` or `load`")
    s.add_argument(
        "--connexion", type=_address, metavar="[HOST:]PORT", help="Connexion receiver address"
    )
    s.add_argument("--z3950", type=_address, metavar="[HOST:]PORT", help="Z39.50 address")
    s.add_argument(
        "--z3950-database", default="catalog", metavar="NAME", help="Z39.50 database name"
    )
    s.add_argument("--sru", type=_address, metavar="[HOST:]PORT", help="SRU (HTTP) address")
    s.add_argument(
        "--no-auth", action="store_true", help="accept every login (else the catalog's accounts)"
    )
    s.add_argument("--log", metavar="FILE", help="request log file (default stderr)")
    s.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="one line per request: text (default) or a JSON object",
    )
    s.add_argument("--tls-cert", metavar="PEM", help="serve Connexion over TLS with this chain")
    s.add_argument("--tls-key", metavar="PEM", help="the TLS private key")
    s.add_argument(
        "--idle-timeout",
        type=_positive(float),
        default=30.0,
        metavar="SECONDS",
        help="a connection must deliver its whole request within this time (30)",
    )
    s.add_argument(
        "--max-connections",
        type=_positive(int),
        default=256,
        metavar="N",
        help="connections served at once; more are told the server is busy (256)",
    )
    s.add_argument(
        "--max-per-address",
        type=_positive(int),
        default=32,
        metavar="N",
        help="connections one address may hold at once on each service; its slowest is closed "
        "for a new one, else the new one is refused (Z39.50/SRU: checked once a second) (32)",
    )
    s.add_argument(
        "--connection-rate",
        type=_positive(float),
        default=500.0,
        metavar="N",
        help="new connections a second from one address (twice that in a burst; 0: no limit) (500)",
    )
    s.add_argument(
        "--retry-window",
        type=_positive(float),
        default=24.0,
        metavar="HOURS",
        help="the same record bytes from the same login within this time are a retry (24)",
    )
    s.add_argument(
        "--login-delay",
        type=_positive(float),
        default=2.0,
        metavar="SECONDS",
        help="a failed login is answered after this delay (2)",
    )
    s.add_argument(
        "--lockout",
        type=_positive(int),
        default=5,
        metavar="N",
        help="after N failed logins on one login name (from anywhere), refuse that login "
        "from the addresses that failed on it, for --lockout-time (5)",
    )
    s.add_argument(
        "--lockout-address",
        type=_positive(int),
        default=20,
        metavar="M",
        help="after M failed logins from one address (on any names), refuse the address for "
        "--lockout-time (20)",
    )
    s.add_argument(
        "--login-checks",
        type=_positive(int),
        default=2,
        metavar="N",
        help="password checks (scrypt) run at once, on their own threads (2)",
    )
    s.add_argument(
        "--lockout-time",
        type=_positive(float),
        default=300.0,
        metavar="SECONDS",
        help="how long a lock lasts, and the window failures count in (300)",
    )
    s.add_argument(
        "--wait",
        type=_positive(float),
        default=20.0,
        metavar="SECONDS",
        help="how long a write waits for another process's write (20); then the reply is "
        '"Rejected: catalog unavailable"',
    )
    s.add_argument(
        "--drain-timeout",
        type=_positive(float),
        default=10.0,
        metavar="SECONDS",
        help="on SIGTERM, how long requests in flight may take to finish (10)",
    )
    s.add_argument(
        "--profile",
        metavar="FILE",
        help="as for load: an import profile (TOML) the Connexion receiver applies; "
        "--target-prefix and --exclude-symbol given as well win",
    )
    s.add_argument("--target-prefix", default=None, metavar="PREFIX", help="as for load")
    s.add_argument(
        "--exclude-symbol",
        action="append",
        default=[],
        metavar="SYM",
        help="as for load: skip records whose 049 $a is SYM, in any case (repeat the flag for "
        "more)",
    )
    s.set_defaults(func=_cmd_serve, verbose=0, quiet=0, no_progress=True)

    c = sub.add_parser(
        "send",
        help="send records to a Connexion receiver, as Connexion's gateway export does",
        description="Send each record of FILE (as it is: MARC-8 or UTF-8) on its own connection "
        "and print the reply. The password comes from $" + PASSWORD_ENV + ", else a prompt on "
        "a terminal, else the first line of standard input.",
        epilog='Exit status: 0 every record answered "Record received"; 1 another answer '
        '(not loaded, rejected, login failed: send stops at the first "Login failed"); 2 usage '
        "error or no connection.",
    )
    c.add_argument("file", metavar="FILE", help="ISO 2709 records to send, one connection each")
    c.add_argument(
        "--server",
        dest="to",
        type=_to_address,
        metavar="HOST:PORT",
        help="the Connexion receiver (marc8fast serve --connexion)",
    )
    # Old spelling, kept for a release (--to names an encoding in convert).
    c.add_argument("--to", dest="to", type=_to_address, help=argparse.SUPPRESS)
    c.add_argument("--user", metavar="NAME", help="the local login (Connexion's login ID)")
    c.add_argument("--oclc-user", metavar="AUTH", help="the U item (OCLC authorization)")
    c.add_argument(
        "--length-form",
        choices=["byte", "digits"],
        default="byte",
        help="item lengths as one byte (desktop client) or digits (web client)",
    )
    c.add_argument(
        "--end",
        choices=["nul", "close", "none"],
        default="nul",
        help="after the record: a NUL byte, a half-close, or nothing",
    )
    c.add_argument(
        "--timeout",
        type=_positive(float),
        default=100.0,
        metavar="SECONDS",
        help="how long to wait for each reply (100)",
    )
    c.add_argument("--tls", action="store_true", help="connect with TLS")
    c.add_argument("--cafile", metavar="PEM", help="trust this certificate (with --tls)")
    c.set_defaults(func=_cmd_send, verbose=0, quiet=0, no_progress=True)

    u = sub.add_parser(
        "users",
        help="manage the logins of the catalog's services",
        description="One login per technical-services unit, kept in the catalog (passwords as "
        "salted scrypt hashes only). The Connexion receiver and the Z39.50 server check them.",
        epilog="Exit status: 0 done; 2 usage error, unknown login, or catalog error.",
    )
    us = u.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        (
            "add",
            "add a login (password from a prompt, or standard input when it is not a terminal)",
        ),
        ("passwd", "set a login's password"),
        ("disable", "disable a login (its connections are refused within a second)"),
        ("enable", "enable a disabled login again"),
        ("list", "list the logins"),
    ):
        p = us.add_parser(name, help=text, description=text, epilog=_USERS_EPILOG)
        if name != "list":
            p.add_argument("name", metavar="NAME", help="the login name")
        add_db_option(p, "never made here: `marc8fast catalog init` or `load`")
        if name in ("add", "passwd"):
            p.add_argument(
                "--password-stdin",
                action="store_true",
                help="read the password from the first line of standard input (what happens "
                "anyway when standard input is not a terminal)",
            )
        p.set_defaults(func=_cmd_users, verbose=0, quiet=0, no_progress=True)


_USERS_EPILOG = (
    f"Passwords: at least {MIN_PASSWORD} characters, no control characters. Asked twice on a "
    "terminal; read from the first line of standard input when it is not a terminal (or with "
    "--password-stdin). Exit status: 0 done; 2 usage error, unknown login, or catalog error."
)


def _to_address(text: str) -> tuple[str, int]:
    from .serve import parse_address

    if ":" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    try:
        return parse_address(text, default_host="127.0.0.1")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _fail(message: str) -> int:
    print(f"marc8fast: {message}", file=sys.stderr)
    return EXIT_ERROR


def _cmd_serve(args: argparse.Namespace) -> int:
    from .._paths import check_paths
    from .serve import ServeError, ServeOptions, run

    profile_text: str | None = None
    if args.profile is not None:
        from ..cli.profile import read_profile

        profile = read_profile(args.profile)
        if profile is None:
            return EXIT_ERROR
        with open(args.profile, encoding="utf-8") as f:
            profile_text = f.read()
        if args.target_prefix is None:
            args.target_prefix = profile.target_prefix
        args.exclude_symbol = [*profile.exclude_symbols, *args.exclude_symbol]
    if args.target_prefix is None:
        args.target_prefix = "(LOCAL)"
    if not args.target_prefix.strip():
        return _fail('--target-prefix must not be empty (default "(LOCAL)")')
    # The log is appended to, never over the catalog (or its -wal/-shm), any catalog, or the
    # TLS files (issue 18, item 3).
    why = check_paths(
        [("the log", args.log)],
        inputs=[f for f in (args.tls_cert, args.tls_key, args.profile) if f],
        catalog=args.db,
    )
    if why is not None:
        return _fail(why)

    opts = ServeOptions(
        db=args.db,
        connexion=args.connexion,
        z3950=args.z3950,
        sru=args.sru,
        z3950_database=args.z3950_database,
        no_auth=args.no_auth,
        log_file=args.log,
        log_format=args.log_format,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        idle_timeout=args.idle_timeout,
        max_connections=max(1, args.max_connections),
        max_per_address=max(1, args.max_per_address),
        connection_rate=args.connection_rate,
        retry_window=args.retry_window * 3600.0,
        login_delay=args.login_delay,
        lockout_failures=max(1, args.lockout),
        lockout_address_failures=max(1, args.lockout_address),
        login_checks=max(1, args.login_checks),
        lockout_seconds=args.lockout_time,
        wait=args.wait,
        drain_timeout=args.drain_timeout,
        target_prefix=args.target_prefix,
        exclude_symbols=tuple(args.exclude_symbol),
        profile_text=profile_text,
        profile_path=args.profile or "<profile>",
    )
    try:
        return run(opts)
    except ServeError as e:
        return _fail(str(e))
    except OSError as e:
        where = e.filename if e.filename is not None else args.log or "serve"
        return _fail(f"{where}: {e.strerror or e}")


def _cmd_send(args: argparse.Namespace) -> int:
    from .client import SendError, send_record, split_records

    try:
        with open(args.file, "rb") as fh:
            data = fh.read()
    except OSError as e:
        return _fail(f"{args.file}: {e.strerror or e}")
    if args.to is None:
        return _fail("send: give --server HOST:PORT")
    password = None
    if args.user is not None:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            password = _ask_password(f"password for {args.user}: ", again=False)
            if not password:
                return _fail(
                    f"no password (set ${PASSWORD_ENV}, answer the prompt, or give it on the "
                    "first line of standard input)"
                )
    tls = None
    if args.tls:
        tls = ssl.create_default_context(cafile=args.cafile)
    host, port = args.to
    status = EXIT_OK
    n = 0
    for n, record in enumerate(split_records(data), start=1):
        try:
            reply = send_record(
                host,
                port,
                record,
                login=args.user,
                password=password,
                user=args.oclc_user,
                form=args.length_form,
                end=args.end,
                timeout=args.timeout,
                tls=tls,
            )
        except (SendError, ValueError) as e:
            print(f"{args.file}: record {n}: no reply: {e}", flush=True)
            return EXIT_ERROR
        print(f"{args.file}: record {n}: {reply}", flush=True)
        if reply.startswith("Login failed"):
            # Every further record would fail the same way, and count towards the lockout.
            print(
                f"marc8fast: {args.file}: stopped at record {n}: the login failed; the records "
                "after it were not sent (check --user and the password)",
                file=sys.stderr,
            )
            return EXIT_PROBLEMS
        if not reply.startswith("Record received"):
            status = EXIT_PROBLEMS
    if n == 0:
        return _fail(f"{args.file}: no record")
    return status


def _stdin_line() -> str:
    line = sys.stdin.readline()
    line = line[:-1] if line.endswith("\n") else line
    return line[:-1] if line.endswith("\r") else line


def _ask_password(prompt: str, *, again: bool) -> str | None:
    """A password from the terminal (asked twice with ``again``), or, when standard input is not
    a terminal, its first line: never getpass's fallback, which warns with a path into the
    standard library (issue 18, item 14). None: no password (end of input, or they differ)."""
    if not sys.stdin.isatty():
        return _stdin_line()
    try:
        password = getpass.getpass(prompt)
        if again and password != getpass.getpass("again: "):
            raise _PasswordsDiffer
    except EOFError:
        return None
    return password


class _PasswordsDiffer(Exception):
    """The two passwords typed at the prompt are not the same."""


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        password: str | None = _stdin_line()
    else:
        try:
            password = _ask_password(f"new password for {args.name}: ", again=True)
        except _PasswordsDiffer:
            print("marc8fast: the passwords differ", file=sys.stderr)
            return None
    if password is None:
        print("marc8fast: no password given", file=sys.stderr)
        return None
    if not password:
        print("marc8fast: an empty password is not allowed", file=sys.stderr)
        return None
    if len(password) < MIN_PASSWORD:
        print(
            f"marc8fast: the password is too short: at least {MIN_PASSWORD} characters",
            file=sys.stderr,
        )
        return None
    return password


def _cmd_users(args: argparse.Namespace) -> int:
    from ..catalog import CatalogError, describe_error, open_catalog
    from ..flows import accounts

    # The catalog is opened (never made: issue 18, item 5) and the login checked before a
    # password is asked for, so that a typo is said before anyone types a password.
    try:
        if args.action == "list":
            store = open_catalog(args.db, readonly=True)
        else:
            store = open_catalog(args.db, create=False)
    except CatalogError as e:
        return _fail(str(e))
    try:
        if args.action == "list":
            for a in accounts.list_users(store):
                state = "disabled" if a.disabled else "enabled"
                print(f"{a.name}\t{state}\tcreated {a.created_at}\tchanged {a.updated_at}")
            return EXIT_OK
        accounts.check_name(args.name)
        known = {a.name.casefold() for a in accounts.list_users(store)}
        if args.action == "add" and args.name.casefold() in known:
            return _fail(f"there is already an account {args.name!r}")
        if args.action != "add" and args.name.casefold() not in known:
            return _fail(f"no account {args.name!r}")
        if args.action in ("add", "passwd"):
            password = _read_password(args)
            if password is None:
                return EXIT_ERROR
            if args.action == "add":
                accounts.add_user(store, args.name, password)
                print(f"added {args.name}", file=sys.stderr)
            else:
                accounts.set_password(store, args.name, password)
                print(f"password of {args.name} changed", file=sys.stderr)
        elif args.action == "enable":
            accounts.enable_user(store, args.name)
            print(f"enabled {args.name}", file=sys.stderr)
        else:
            accounts.disable_user(store, args.name)
            print(f"disabled {args.name}", file=sys.stderr)
    except accounts.AccountError as e:
        return _fail(str(e))
    except CatalogError as e:
        return _fail(describe_error(args.db, e))
    finally:
        store.close()
    return EXIT_OK
