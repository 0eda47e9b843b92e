"""A client for the Connexion gateway-export protocol (:mod:`.protocol`): one connection and
one request per record, the reply read up to its NUL. ``marc8fast send`` uses it to replay
exports; the tests and the benchmark drive the server with it."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

from .._native import Marc8Error, next_record
from . import protocol


class SendError(Marc8Error, OSError):
    """No reply: the connection failed, or closed before a reply came."""


def split_records(data: bytes) -> Iterator[bytes]:
    """The records of an ISO 2709 file as they are, unconverted, as the record layer's splitter
    finds them. Bytes it skips (garbage, a record cut short) are sent too, so that the server
    says what is wrong with them; blank lines and padding are not."""
    pos = 0
    while True:
        found = next_record(data, pos, eof=True)
        if found.kind == "end":
            return
        if found.kind != "blank" and data[found.start : found.end].strip(b"\r\n\x00 \x1a"):
            yield data[found.start : found.end]
        pos = found.end


def exchange(
    host: str,
    port: int,
    payload: bytes,
    *,
    timeout: float = 100.0,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    half_close: bool = False,
) -> str:
    """Send ``payload`` on a new connection and return the reply (without its NUL)."""
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        raise SendError(f"cannot connect to {host}:{port}: {e.strerror or e}") from None
    sock: socket.socket = raw
    try:
        if tls is not None:
            sock = tls.wrap_socket(raw, server_hostname=server_hostname or host)
        sock.sendall(payload)
        if half_close and tls is None:
            sock.shutdown(socket.SHUT_WR)
        got = bytearray()
        while b"\0" not in got:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except (OSError, ssl.SSLError) as e:
        raise SendError(f"{host}:{port}: {e.__class__.__name__}: {e}") from None
    finally:
        sock.close()
    if b"\0" not in got and not got:
        raise SendError(f"{host}:{port}: the connection closed with no reply")
    return got.split(b"\0", 1)[0].decode("utf-8", "replace")


def send_record(
    host: str,
    port: int,
    record: bytes,
    *,
    login: str | None,
    password: str | None,
    user: str | None = None,
    form: str = "byte",
    end: str = "nul",
    timeout: float = 100.0,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> str:
    """One export: ``form`` ``"byte"`` or ``"digits"`` (the length form of the items), ``end``
    ``"nul"`` (a NUL after the record), ``"close"`` (half-close) or ``"none"`` (nothing: the
    server answers when the record is complete)."""
    payload = protocol.encode_request(
        record,
        login=login.encode() if login is not None else None,
        password=password.encode() if password is not None else None,
        user=user.encode() if user is not None else None,
        form=form,
        end=b"\0" if end == "nul" else b"",
    )
    return exchange(
        host,
        port,
        payload,
        timeout=timeout,
        tls=tls,
        server_hostname=server_hostname,
        half_close=end == "close",
    )
