"""The PostgreSQL backend's accounts (per-unit logins) and the Connexion receiver's receipts, a part
of :class:`.postgres.PostgresStore` kept in its own file (the 900-line limit)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .api import Account, Receipt, now


class PgAccounts:
    """Methods of :class:`.postgres.PostgresStore` (which provides ``_q``)."""

    if TYPE_CHECKING:

        def _q(self, sql: str, params: Any = ()) -> Any: ...
        def _flush_log(self) -> None: ...

    # -- accounts --------------------------------------------------------------------------------

    def add_account(self, name: str, password_hash: str) -> bool:
        if self._q("SELECT 1 FROM accounts WHERE lower(name)=lower(%s)", (name,)).fetchone():
            return False
        t = now()
        self._q(
            "INSERT INTO accounts (name, password_hash, disabled, created_at, updated_at) "
            "VALUES (%s, %s, false, %s, %s)",
            (name, password_hash, t, t),
        )
        return True

    def update_account(
        self, name: str, *, password_hash: str | None = None, disabled: bool | None = None
    ) -> bool:
        cur = self._q(
            "UPDATE accounts SET password_hash=coalesce(%s, password_hash), "
            "disabled=coalesce(%s, disabled), updated_at=%s WHERE name=%s",
            (password_hash, disabled, now(), name),
        )
        return bool(cur.rowcount > 0)

    def accounts(self) -> list[Account]:
        return [
            Account(r[0], bool(r[1]), r[2], r[3])
            for r in self._q(
                "SELECT name, disabled, created_at, updated_at FROM accounts "
                'ORDER BY name COLLATE "C"'
            )
        ]

    def has_accounts(self) -> bool:
        return self._q("SELECT 1 FROM accounts WHERE NOT disabled LIMIT 1").fetchone() is not None

    def account_hash(self, name: str) -> tuple[str, bool] | None:
        row = self._q(
            "SELECT password_hash, disabled FROM accounts WHERE name=%s", (name,)
        ).fetchone()
        return None if row is None else (str(row[0]), bool(row[1]))

    # -- receipts --------------------------------------------------------------------------------

    def receipt(self, login: str, digest: str) -> Receipt | None:
        row = self._q(
            "SELECT login, digest, time, fate, sysno, message FROM receipts "
            "WHERE login=%s AND digest=%s",
            (login, digest),
        ).fetchone()
        return None if row is None else Receipt(*row)

    def receipts(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Receipt]:
        """:meth:`receipt` of each ``(login, digest)`` in one statement: those that have one."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        rows = self._q(
            "SELECT r.login, r.digest, r.time, r.fate, r.sysno, r.message FROM receipts r "
            "JOIN unnest(%s::text[], %s::text[]) AS k(login, digest) "
            "ON r.login = k.login AND r.digest = k.digest",
            ([k[0] for k in wanted], [k[1] for k in wanted]),
        )
        return {(row[0], row[1]): Receipt(*row) for row in rows}

    def log_counts(self, input_hashes: Iterable[str]) -> dict[str, int]:
        """``log_count`` of each of ``input_hashes`` in one statement (the receiver asks for a
        whole group of requests at once)."""
        hashes = list(dict.fromkeys(input_hashes))
        out = dict.fromkeys(hashes, 0)
        if not hashes:
            return out
        self._flush_log()
        for h, n in self._q(
            "SELECT input_hash, count(*) FROM load_log WHERE input_hash = ANY(%s) "
            "GROUP BY input_hash",
            (hashes,),
        ):
            out[h] = int(n)
        return out

    def put_receipt(self, receipt: Receipt) -> None:
        r = receipt
        self._q(
            "INSERT INTO receipts (login, digest, time, fate, sysno, message) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (login, digest) DO UPDATE SET "
            "time=excluded.time, fate=excluded.fate, sysno=excluded.sysno, "
            "message=excluded.message",
            (r.login, r.digest, r.time, r.fate, r.sysno, r.message),
        )

    def put_receipts(self, receipts: Iterable[Receipt]) -> None:
        """Each receipt stored, replacing the one its login and digest had; in order, so that
        of two with one login and digest the later stays, as with :meth:`put_receipt`."""
        for r in receipts:
            self.put_receipt(r)

    def prune_receipts(self, before: str) -> None:
        self._q("DELETE FROM receipts WHERE time < %s", (before,))
