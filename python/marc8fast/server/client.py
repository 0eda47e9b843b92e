"""A client for the Connexion gateway-export protocol (:mod:`.protocol`): one connection and
one request per record, the reply read up to its NUL. ``marc8fast send`` uses it to replay
exports; the tests and the benchmark drive the server with it."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

from . import protocol


class SendError(OSError):
    """No reply: the connection failed, or closed before a reply came."""


def split_records(data: bytes) -> Iterator[bytes]:
    """The records of an ISO 2709 file as they are, unconverted: by each leader's length when
    it ends at a record terminator, else up to the next terminator."""
    i, n = 0, len(data)
    while i < n:
        while i < n and data[i] in b"\r\n\x00 \x1a":  # line ends or padding between records
            i += 1
        if i >= n:
            return
        head = data[i : i + 5]
        if head.isdigit():
            length = int(head)
            if length >= 24 and i + length <= n and data[i + length - 1] == 0x1D:
                yield data[i : i + length]
                i += length
                continue
        end = data.find(b"\x1d", i)
        end = n if end < 0 else end + 1
        yield data[i:end]
        i = end


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
