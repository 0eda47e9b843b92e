"""Every public exception of the package is a :class:`marc8fast.Marc8Error` (issue 19): one
``except Marc8Error`` catches whatever marc8fast raises of its own, the server's included."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import marc8fast
from marc8fast import Marc8Error


def _exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(marc8fast.__path__, "marc8fast."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == info.name
                and not name.startswith("_")
            ):
                found[f"{info.name}.{name}"] = obj
    return found


def test_the_server_exceptions_are_found() -> None:
    names = set(_exceptions())
    assert {
        "marc8fast.server.protocol.ProtocolError",
        "marc8fast.server.client.SendError",
        "marc8fast.server.serve.ServeError",
        "marc8fast.catalog.api.CatalogError",  # moved from flows/store.py (issue 20)
    } <= names


def test_every_public_exception_is_a_marc8_error() -> None:
    outside = sorted(n for n, cls in _exceptions().items() if not issubclass(cls, Marc8Error))
    assert outside == []


def test_the_server_exceptions_keep_their_old_bases() -> None:
    from marc8fast.server.client import SendError
    from marc8fast.server.protocol import ProtocolError

    # Callers that catch ValueError or OSError still catch them.
    assert issubclass(ProtocolError, ValueError) and issubclass(SendError, OSError)
