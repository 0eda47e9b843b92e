"""``marc8fast serve``: the catalog's network services in one process — the Connexion receiver
(:mod:`.connexion`) and the Z39.50/SRU service (:mod:`.z3950`), each on its own port.

At start one line per service goes to stderr, ``listening connexion HOST:PORT`` (also
``listening z3950 …``, ``listening sru …``), so a port given as 0 can be found. SIGTERM (and
SIGINT) stop accepting, let the requests in flight finish and exit 0; SIGHUP reopens the log
file. If the Z39.50/SRU service cannot be kept up (its supervised child keeps dying), serve says
so on stderr and in the log, stops and exits 2."""

from __future__ import annotations

import dataclasses
import signal
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .._native import Marc8Error
from .connexion import ConnexionService, Settings
from .log import RequestLog


class ServiceHandle(Protocol):
    @property
    def ports(self) -> dict[str, int]: ...
    @property
    def failed(self) -> threading.Event: ...
    @property
    def failure(self) -> str | None: ...
    def when_failed(self, fn: Callable[[], object]) -> None: ...
    def stop(self, timeout: float) -> None: ...


def parse_address(text: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """``"PORT"``, ``"HOST:PORT"`` or ``"[V6]:PORT"`` → (host, port); ValueError otherwise."""
    t = text.strip()
    host = default_host
    if t.startswith("["):
        end = t.find("]")
        if end < 0 or t[end + 1 : end + 2] != ":":
            raise ValueError(f"{text!r} is not [HOST]:PORT")
        host, t = t[1:end], t[end + 2 :]
    elif ":" in t:
        host, _, t = t.rpartition(":")
    if not (t.isascii() and t.isdigit()) or int(t) > 65535:
        raise ValueError(f"{text!r} is not [HOST:]PORT (a port is 0 to 65535)")
    return host or default_host, int(t)


@dataclass(kw_only=True)
class ServeOptions(Settings):
    """What ``serve`` runs with: the Connexion receiver's :class:`~.connexion.Settings` (their
    ``host``, ``port`` and ``tls`` are taken from ``connexion`` and the two TLS files), and what
    the Z39.50/SRU service and the log add. The login delay, the per-address cap and the lockout
    settings serve both services."""

    connexion: tuple[str, int] | None = None
    z3950: tuple[str, int] | None = None
    sru: tuple[str, int] | None = None
    z3950_database: str = "catalog"
    log_file: str | None = None
    log_format: str = "text"
    tls_cert: str | None = None
    tls_key: str | None = None


#: How often the main thread wakes to run a signal handler another thread received (seconds).
SIGNAL_POLL = 0.5


class ServeError(Marc8Error):
    """Serve cannot start: said in one line."""


def _announce(name: str, host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    print(f"listening {name} {shown}:{port}", file=sys.stderr, flush=True)


def run(opts: ServeOptions, *, ready: Callable[[], object] | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status."""
    if opts.connexion is None and opts.z3950 is None and opts.sru is None:
        raise ServeError("nothing to serve: give --connexion, --z3950 and/or --sru")
    _check_catalog(opts)
    tls = None
    if opts.tls_cert or opts.tls_key:
        if not (opts.tls_cert and opts.tls_key):
            raise ServeError("--tls-cert and --tls-key go together")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            tls.load_cert_chain(opts.tls_cert, opts.tls_key)
        except (OSError, ssl.SSLError) as e:
            raise ServeError(f"TLS certificate or key: {e}") from None
    log = RequestLog(opts.log_file, fmt=opts.log_format)
    stop = threading.Event()

    def on_stop(signum: int, frame: Any) -> None:
        stop.set()

    def on_hup(signum: int, frame: Any) -> None:
        log.reopen()

    old = {
        sig: signal.signal(sig, handler)
        for sig, handler in (
            (signal.SIGTERM, on_stop),
            (signal.SIGINT, on_stop),
            (signal.SIGHUP, on_hup),
        )
    }
    service: ConnexionService | None = None
    other: ServiceHandle | None = None
    try:
        if opts.connexion is not None:
            own = {f.name for f in dataclasses.fields(Settings)} - {"host", "port", "tls"}
            service = ConnexionService(
                Settings(
                    **{name: getattr(opts, name) for name in own},
                    host=opts.connexion[0],
                    port=opts.connexion[1],
                    tls=tls,
                ),
                log,
            )
            try:
                port = service.start()
            except OSError as e:
                raise ServeError(f"connexion: cannot listen on {opts.connexion}: {e}") from None
            _announce("connexion", opts.connexion[0], port)
        if opts.z3950 is not None or opts.sru is not None:
            try:
                from . import z3950  # type: ignore[attr-defined, unused-ignore]
            except ImportError as e:
                raise ServeError(f"the Z39.50/SRU service is not in this build ({e})") from None
            try:
                from .guard import Policy

                other = z3950.start(
                    opts.db,
                    z3950=opts.z3950,
                    sru=opts.sru,
                    database=opts.z3950_database,
                    no_auth=opts.no_auth,
                    log=log,
                    refuse_delay=opts.login_delay,
                    max_per_address=opts.max_per_address,
                    # the receiver's lockout policy (each service counts its own attempts)
                    policy=Policy(
                        login_failures=max(1, opts.lockout_failures),
                        address_failures=max(1, opts.lockout_address_failures),
                        lock_seconds=opts.lockout_seconds,
                        checks=max(1, opts.login_checks),
                    ),
                )
            except OSError as e:
                raise ServeError(f"z3950/sru: cannot listen: {e}") from None
            assert other is not None
            ports = other.ports
            for name, addr in (("z3950", opts.z3950), ("sru", opts.sru)):
                if addr is not None:
                    _announce(name, addr[0], int(ports.get(name, addr[1])))
        if other is not None:
            other.when_failed(stop.set)
        if ready is not None:
            ready()
        # A signal, or the Z39.50 service giving up, sets it. Waited for in slices: the kernel
        # may give the signal to another thread (a stopped serve continued by SIGCONT), and
        # Python runs the handler on this one only when it runs bytecode, which a wait with no
        # timeout never does.
        while not stop.wait(SIGNAL_POLL):
            pass
        if other is not None and other.failed.is_set():
            # the Z39.50 child could not be kept up: said, and serve stops (non-zero)
            print(f"marc8fast: z3950: {other.failure}; stopping", file=sys.stderr, flush=True)
            return 2
        return 0
    finally:
        if service is not None:
            service.stop()
        if other is not None:
            other.stop(opts.drain_timeout)
        log.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _check_catalog(opts: ServeOptions) -> None:
    """The catalog must be there and readable; with no enabled account, only ``--no-auth``
    starts (the same accounts guard Z39.50)."""
    from ..catalog import CatalogError, NoCatalogError, ReadOnlyError, open_catalog, shown

    try:
        # Opened for writing first: that brings an older catalog's schema up to date (it never
        # makes one: only `load` and `catalog init` do; issue 18, item 5). A catalog that
        # cannot be written is served all the same: its imports are answered "catalog
        # unavailable".
        try:
            open_catalog(opts.db, create=False).close()
        except ReadOnlyError:
            pass
        store = open_catalog(opts.db, readonly=True)
    except NoCatalogError:
        raise ServeError(
            f"no catalog at {shown(opts.db)} (make one with `marc8fast catalog init --db "
            f"{shown(opts.db)}` or `marc8fast load`)"
        ) from None
    except CatalogError as e:
        raise ServeError(str(e)) from None
    try:
        if opts.no_auth:
            return
        from ..flows import accounts

        if not accounts.has_accounts(store):
            raise ServeError(
                f"{shown(opts.db)}: no enabled account: add one with `marc8fast users add NAME "
                f"--db {shown(opts.db)}`, or run with --no-auth"
            )
    finally:
        store.close()
