"""Logins for the network services: one account per technical-services unit, kept in the catalog.

The Connexion receiver (``A``/``P`` items) and the Z39.50 and SRU servers (Init
``idAuthentication``, HTTP basic) check a name and password with :func:`verify`. Passwords are
stored only as salted scrypt hashes (``hashlib.scrypt``, N=2^15, r=8, p=1: about 32 MiB and
tens of milliseconds a check, which is what makes guessing slow); the parameters are stored with
each hash so that they can be raised later without invalidating old ones. Nothing here logs or
returns a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING, Any

from .._native import Marc8Error
from ..catalog.api import Account

if TYPE_CHECKING:
    from ..catalog.api import Catalog

#: scrypt parameters for new hashes.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_MAXMEM = 256 * 1024 * 1024

#: A login name: what Connexion's "local system logon ID" and Z39.50's ``user/password`` can
#: carry without ambiguity (no ``/``, no spaces, no control characters).
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MAX_PASSWORD = 1024


class AccountError(Marc8Error, ValueError):
    """A bad name or password, an unknown account, or one that exists already."""


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64) for ``password``, with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` string (constant-time compare)."""
    try:
        scheme, n, r, p, salt, want = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, base64.b64decode(want))


# Checked against when the name is unknown or disabled, so that the answer takes as long as for
# a real account (a guesser cannot tell names from their timing).
_DUMMY = hash_password(secrets.token_hex(16))


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise AccountError(
            f"{name!r} is not a login name (1 to 64 characters: letters, digits and . _ @ -, "
            "starting with a letter or digit)"
        )
    return name


def check_new_password(password: str) -> str:
    if not password:
        raise AccountError("the password is empty")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password is longer than {MAX_PASSWORD} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
        raise AccountError("the password contains a control character")
    return password


def add_user(store: Catalog, name: str, password: str) -> None:
    """Create an account; :class:`AccountError` if the name is taken or invalid."""
    check_name(name)
    hashed = hash_password(check_new_password(password))
    with store.transaction():
        if not store.add_account(name, hashed):
            raise AccountError(f"there is already an account {name!r}")


def _update(store: Catalog, name: str, **change: Any) -> None:
    with store.transaction():
        if not store.update_account(name, **change):
            raise AccountError(f"no account {name!r}")


def set_password(store: Catalog, name: str, password: str) -> None:
    _update(store, name, password_hash=hash_password(check_new_password(password)))


def disable_user(store: Catalog, name: str) -> None:
    _update(store, name, disabled=True)


def enable_user(store: Catalog, name: str) -> None:
    _update(store, name, disabled=False)


def list_users(store: Catalog) -> list[Account]:
    return store.accounts()


def has_accounts(store: Catalog) -> bool:
    """Whether any enabled account exists (the services then require a login)."""
    return store.has_accounts()


def stored_hash(store: Catalog, name: str) -> str | None:
    """The password hash of an enabled account ``name``; None if it is unknown or disabled.
    A quick read: the slow part is :func:`check`, which needs no catalog."""
    found = store.account_hash(name)
    if found is None or found[1]:
        return None
    return found[0]


def check(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (from :func:`stored_hash`). Always spends one
    scrypt check, also when ``stored`` is None (unknown or disabled login: False)."""
    if stored is None:
        check_password(password, _DUMMY)
        return False
    return check_password(password, stored)


def verify(store: Catalog, name: str, password: str) -> bool:
    """Whether ``name``/``password`` is an enabled account. Always spends one scrypt check,
    whether the name exists or not."""
    return check(stored_hash(store, name), password)
