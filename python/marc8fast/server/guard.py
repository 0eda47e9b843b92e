"""The login guard shared by the network services (issue 17): lockout, a bounded pool of password
checks and a cache of verified credentials.

A password check (``verify``, scrypt in :mod:`marc8fast.flows.accounts`) costs about 100 ms and
32 MiB. The guard makes sure that guessing cannot stall the service nor get around the lockout:

* **Attempts are counted before the check.** Every attempt is recorded, per address and per
  login, the moment it arrives (in flight); N parallel guesses cost N attempts. An attempt that
  succeeds is taken back; one that fails (or is refused as locked) stays for ``lock_seconds``.
* **Locks.** An address is locked while it has ``address_failures`` failed attempts (on any
  logins) within ``lock_seconds``: every attempt from it is refused without a check. A login is
  locked while it has ``login_failures`` failed attempts from anywhere; it is then refused
  without a check *from the addresses that took part in those failures* (an address that guessed
  it). From an address that did not, the check still runs and a correct password is honoured: a
  guesser elsewhere cannot lock a unit out of its own login, and each further address a guesser
  uses buys one more check, no more.
* **Shared addresses (NAT, OCLC's relay).** A credential verified from an address within
  ``cache_seconds`` (sliding: each use keeps it) is answered from the cache, without a check,
  also while its login is locked from that address — a unit that is working keeps working while
  someone behind the same address guesses its login. The address lock wins over the cache (fail
  closed): past ``address_failures`` failures from an address (refusals as locked count too, so
  the cache is no free oracle), everyone there is refused until the lock ends.
* **The pool.** Checks run on ``checks`` worker threads of their own, never on a thread that
  serves other clients. Waiting checks are taken round-robin by address, at most
  ``checks_per_address`` of one address at a time, so a flood from some addresses does not queue
  the others behind it; an address with no recent failure goes first. Identical credentials in
  flight share one check (the first logins after a start do not each pay one).
* **The cache** is keyed by an HMAC (under a key made at start) of login, address and password,
  never the password itself; :meth:`LoginGuard.forget` drops a login's entries (the account
  changed).
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

Log = Callable[[dict[str, object]], None]


def address_key(host: str) -> str:
    """The "address" the limits and the lockout count by, for a peer's host: an IPv4 address
    as it is (also when it reaches an IPv6 socket as ``::ffff:a.b.c.d``); an IPv6 address by
    its /64 — one subscriber's whole network, which it can take addresses from at will."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if ip.is_loopback:
            return str(ip)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True)
class Policy:
    login_failures: int = 5  # a login is locked after N failures from anywhere
    address_failures: int = 20  # an address is locked after M failures on any logins
    lock_seconds: float = 300.0
    checks: int = 2  # bounded pool of password-check workers
    checks_per_address: int = 2  # concurrent checks one address may have in flight
    cache_seconds: float = 300.0  # verified-credential cache (keyed by an HMAC, never the password)


class Verdict(enum.Enum):
    OK = "ok"
    BAD = "bad"  # wrong password, unknown or disabled login
    LOCKED = "locked"  # refused without a check; Result.retry_after says for how long
    BUSY = "busy"  # no check could start within the timeout; not counted as a failure
    UNAVAILABLE = "unavailable"  # the check itself failed (catalog unreadable); not counted


@dataclass(frozen=True)
class Result:
    verdict: Verdict
    retry_after: float | None = None  # seconds until the lock ends (LOCKED only)
    detail: str | None = None  # UNAVAILABLE: what failed (for the log; never a password)


class _Tally:
    """Failures of one login or one address: the newest ``limit`` failure times (older ones do
    not change whether it is locked) and the attempts in flight."""

    __slots__ = ("addrs", "inflight", "noted", "pending", "times")

    def __init__(self, limit: int) -> None:
        self.times: deque[float] = deque(maxlen=max(1, limit))
        self.inflight = 0
        self.addrs: dict[str, float] = {}  # logins only: address → its last failure (monotonic)
        self.pending: dict[str, int] = {}  # logins only: address → its attempts in flight
        self.noted = float("-inf")  # when a refusal by this lock was last logged

    def took_part(self, address: str, now: float, lock: float) -> bool:
        """Whether ``address`` has a failure on this login within ``lock``, or one in flight."""
        if self.pending.get(address):
            return True
        t = self.addrs.get(address)
        return t is not None and now - t < lock

    def count(self, now: float, lock: float) -> int:
        while self.times and now - self.times[0] >= lock:
            self.times.popleft()
        return len(self.times) + self.inflight

    def retry_after(self, now: float, lock: float, limit: int) -> float:
        eff = sorted(list(self.times) + [now] * self.inflight)
        if len(eff) < limit:
            return 0.0
        return max(1.0, eff[len(eff) - limit] + lock - now)

    def idle(self, now: float, lock: float) -> bool:
        return self.count(now, lock) == 0


@dataclass(eq=False)
class _Check:
    login: str
    password: bytes
    addr: str
    key: bytes
    waiters: int = 1
    started: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    verdict: Verdict = Verdict.UNAVAILABLE
    detail: str | None = None


class LoginGuard:
    def __init__(
        self,
        verify: Callable[[str, bytes], bool],
        policy: Policy,
        log: Log | None = None,
    ) -> None:
        self._verify = verify
        self.policy = policy
        self._log = log
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Condition()
        self._logins: dict[str, _Tally] = {}
        self._addrs: dict[str, _Tally] = {}
        self._cache: dict[str, dict[bytes, float]] = {}  # login → {HMAC: expiry (monotonic)}
        self._inflight: dict[bytes, _Check] = {}  # HMAC of login+password → the check
        self._queue: OrderedDict[str, deque[_Check]] = OrderedDict()  # by address, round-robin
        self._running: dict[str, int] = {}
        self._closed = False
        self._pruned = time.monotonic()
        self.checks_run = 0  # how many password checks ran (for tests and the log)
        self._workers = [
            threading.Thread(target=self._work, name=f"login-check-{i}", daemon=True)
            for i in range(max(1, policy.checks))
        ]
        for t in self._workers:
            t.start()

    # -- the public interface --------------------------------------------------------------------

    def check(self, login: str, password: bytes, address: str, timeout: float = 10.0) -> Result:
        """Whether ``login``/``password`` from ``address`` may enter. Blocks the calling thread
        (never another client's) up to ``timeout`` seconds while a check waits or runs."""
        p = self.policy
        cache_key = self._mac(b"c", login, address, password)
        now = time.monotonic()
        with self._lock:
            if self._closed:
                return Result(Verdict.UNAVAILABLE)
            self._prune(now)
            atally = self._addrs.get(address)
            if atally is not None and atally.count(now, p.lock_seconds) >= p.address_failures:
                return self._refuse(login, address, now, atally, "address")
            entries = self._cache.get(login)
            expiry = entries.get(cache_key) if entries else None
            if entries is not None and expiry is not None:
                if expiry > now:
                    entries[cache_key] = now + p.cache_seconds
                    return Result(Verdict.OK)
                del entries[cache_key]
            check_key = self._mac(b"v", login, "", password)
            job = self._inflight.get(check_key)
            if job is not None and not job.done.is_set():
                # The same credential is being checked: share that check (the first logins
                # after a start). Not a new guess, so not counted while in flight.
                job.waiters += 1
                joined = True
            else:
                joined = False
                ltally = self._logins.get(login)
                if (
                    ltally is not None
                    and ltally.count(now, p.lock_seconds) >= p.login_failures
                    and ltally.took_part(address, now, p.lock_seconds)
                ):
                    return self._refuse(login, address, now, ltally, "login")
                job = _Check(login, password, address, check_key)
                self._inflight[check_key] = job
                self._queue.setdefault(address, deque()).append(job)
                self._lock.notify()
            # Counted before the check: in flight until the verdict.
            atally = self._tally(self._addrs, address, p.address_failures)
            ltally = self._tally(self._logins, login, p.login_failures)
            if not joined:
                atally.inflight += 1
                ltally.inflight += 1
                ltally.pending[address] = ltally.pending.get(address, 0) + 1
        finished = job.done.wait(timeout)
        now = time.monotonic()
        with self._lock:
            if not joined:
                atally.inflight -= 1
                ltally.inflight -= 1
                left = ltally.pending.get(address, 1) - 1
                if left:
                    ltally.pending[address] = left
                else:
                    ltally.pending.pop(address, None)
            if not finished:
                job.waiters -= 1
                return Result(Verdict.BUSY)
            verdict = job.verdict
            if verdict is Verdict.OK:
                self._cache.setdefault(login, {})[cache_key] = now + p.cache_seconds
            elif verdict is Verdict.BAD:
                self._failed(login, address, now, atally, ltally)
            return Result(verdict, detail=job.detail)

    def forget(self, login: str) -> None:
        """Drop the cached credentials of ``login`` (its account changed)."""
        with self._lock:
            self._cache.pop(login, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for jobs in self._queue.values():
                for job in jobs:
                    job.verdict = Verdict.UNAVAILABLE
                    job.done.set()
            self._queue.clear()
            self._lock.notify_all()
        for t in self._workers:
            t.join(2.0)

    def locked(self, login: str, address: str) -> float | None:
        """Seconds until ``address`` may try ``login`` again, or None if it may now (does not
        count as an attempt)."""
        p = self.policy
        now = time.monotonic()
        with self._lock:
            atally = self._addrs.get(address)
            if atally is not None and atally.count(now, p.lock_seconds) >= p.address_failures:
                return atally.retry_after(now, p.lock_seconds, p.address_failures)
            ltally = self._logins.get(login)
            if (
                ltally is not None
                and ltally.count(now, p.lock_seconds) >= p.login_failures
                and ltally.took_part(address, now, p.lock_seconds)
            ):
                return ltally.retry_after(now, p.lock_seconds, p.login_failures)
        return None

    # -- inside ----------------------------------------------------------------------------------

    def _mac(self, kind: bytes, login: str, address: str, password: bytes) -> bytes:
        msg = [kind]
        for part in (login.encode("utf-8", "surrogatepass"), address.encode(), password):
            msg.append(len(part).to_bytes(4, "big") + part)  # length-prefixed: unambiguous
        # one call (OpenSSL's one-shot HMAC), not an HMAC object built in Python each check
        return hmac.digest(self._secret, b"".join(msg), "sha256")

    @staticmethod
    def _tally(table: dict[str, _Tally], key: str, limit: int) -> _Tally:
        t = table.get(key)
        if t is None:
            t = table[key] = _Tally(limit)
        return t

    def _refuse(self, login: str, address: str, now: float, tally: _Tally, what: str) -> Result:
        p = self.policy
        limit = p.address_failures if what == "address" else p.login_failures
        retry = round(max(1.0, tally.retry_after(now, p.lock_seconds, limit)), 1)
        if self._log is not None and now - tally.noted >= p.lock_seconds:
            tally.noted = now  # once per lock, at its first refusal
            self._log(
                {
                    "service": "guard",
                    "outcome": f"{what} locked for {retry:g} s ({limit} failed logins)",
                    "login": login,
                    "addr": address,
                }
            )
        # A refusal counts as a failure too: guessing against a lock (and the cache) is not free.
        # (Refused by its address, it is not counted on the name: names sprayed from a locked
        # address make no new tallies.)
        atally = self._tally(self._addrs, address, p.address_failures)
        if what == "address":
            atally.times.append(now)
        else:
            self._failed(login, address, now, atally, tally)
        return Result(Verdict.LOCKED, retry)

    def _failed(self, login: str, address: str, now: float, atally: _Tally, ltally: _Tally) -> None:
        atally.times.append(now)
        ltally.times.append(now)
        ltally.addrs[address] = now

    def _prune(self, now: float) -> None:
        """Forget idle tallies and expired cache entries, at most once a minute."""
        if now - self._pruned < 60.0:
            return
        self._pruned = now
        lock = self.policy.lock_seconds
        for table in (self._addrs, self._logins):
            for key in [k for k, t in table.items() if t.idle(now, lock)]:
                del table[key]
        for t in self._logins.values():
            if len(t.addrs) > 64:
                t.addrs = {a: s for a, s in t.addrs.items() if now - s < lock}
        # An address's failures on a login are kept as long as the login's tally is.
        for login in list(self._cache):
            live = {k: e for k, e in self._cache[login].items() if e > now}
            if live:
                self._cache[login] = live
            else:
                del self._cache[login]

    def _next(self) -> _Check | None:
        """The next check to run, round-robin by address (caller holds the lock)."""
        cap = max(1, self.policy.checks_per_address)
        # Addresses with no recent failure first (a unit's first login does not wait behind a
        # guesser's queue), then round-robin.
        order = sorted(self._queue, key=lambda a: bool(self._addrs.get(a) and self._addrs[a].times))
        for addr in order:
            jobs = self._queue[addr]
            while jobs and jobs[0].waiters <= 0:  # everyone waiting for it gave up
                dropped = jobs.popleft()
                self._inflight.pop(dropped.key, None)
                dropped.done.set()
            if not jobs:
                del self._queue[addr]
                continue
            if self._running.get(addr, 0) >= cap:
                continue
            job = jobs.popleft()
            self._queue.move_to_end(addr)
            if not jobs:
                del self._queue[addr]
            return job
        return None

    def _work(self) -> None:
        while True:
            with self._lock:
                job = None
                while not self._closed:
                    job = self._next()
                    if job is not None:
                        break
                    self._lock.wait(1.0)
                if job is None:
                    return
                job.started = True
                self._running[job.addr] = self._running.get(job.addr, 0) + 1
            detail = None
            try:
                ok = bool(self._verify(job.login, job.password))
                verdict = Verdict.OK if ok else Verdict.BAD
            except Exception as e:  # the check could not be made: no verdict on the password
                verdict, detail = Verdict.UNAVAILABLE, f"{e.__class__.__name__}: {e}"
            with self._lock:
                self.checks_run += 1
                n = self._running[job.addr] - 1
                if n:
                    self._running[job.addr] = n
                else:
                    del self._running[job.addr]
                job.verdict, job.detail = verdict, detail
                if self._inflight.get(job.key) is job:
                    del self._inflight[job.key]
                job.done.set()
                self._lock.notify_all()
