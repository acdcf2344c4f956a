"""Connecting to a DV network event stream without ever freezing the process.

dv-processing 2.0.4's ``NetworkReader`` constructor connects and then reads the stream's
header while holding the GIL, with no timeout: a peer that accepts the connection and sends
nothing (a hung or SIGSTOPped DV instance, a port of some other service, a host that drops
packets) froze the whole process, Ctrl+C and the GUI included (tests/test_network_stall.py).
So before dv sees an address, ``probe_stream`` connects with a plain socket (which waits with
the GIL released and a deadline) and reads the header itself; dv connects only to a peer
that has just served a whole, plausible header. Once connected, ``LiveReader`` watches for a
stall (no packet for ``stall_s``). What remains is a peer that stops in the milliseconds
between the probe and dv's own connection.
"""

from __future__ import annotations

import socket
import struct
import time

import dv_processing as dv

from r2etl_core.errors import InputError
from r2etl_core.io.dv._common import _dv_reason
from r2etl_core.io.dv.live import LiveReader
from r2etl_core.io.dv.relay import RelayProcess
from r2etl_core.limits import DEFAULT_STALL_S

_MAX_HEADER_BYTES = 16 << 20


class OpeningInterrupted(KeyboardInterrupt):
    """Ctrl+C while waiting for a stream; ``str()`` says what was being waited for."""


def _recv_exactly(sock: socket.socket, count: int, deadline: float) -> bytes:
    """``count`` bytes, or fewer when the peer closed or ``deadline`` passed."""
    data = bytearray()
    while len(data) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(count - len(data), 1 << 16))
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _connect(address: str, port: int, where: str, timeout_s: float) -> socket.socket:
    try:
        return socket.create_connection((address, port), timeout=timeout_s)
    except ConnectionRefusedError:
        raise InputError(where, "connection refused: is a DV network writer running there?") from None
    except socket.timeout:
        raise InputError(where, f"no answer within {timeout_s:g} s: is the host up and the port open?") from None
    except OSError as exc:
        raise InputError(where, f"cannot connect ({exc.strerror or exc})") from None


def _read_header(sock: socket.socket, where: str, timeout_s: float) -> bytes:
    """Wait (at most ``timeout_s``) for a whole size-prefixed ``IOHE`` header from the peer."""
    deadline = time.monotonic() + timeout_s
    head = _recv_exactly(sock, 12, deadline)
    if not head:
        raise InputError(where, f"connected, no data for {timeout_s:g} s (is a DV event stream served there?)")
    size = struct.unpack_from("<I", head)[0] if len(head) >= 4 else 8
    if not 8 <= size <= _MAX_HEADER_BYTES or (len(head) == 12 and head[8:12] != b"IOHE"):
        raise InputError(where, "not a DV event stream: the peer sent something else")
    rest = _recv_exactly(sock, size - 8, deadline) if len(head) == 12 else b""
    if len(head) == 12 and len(rest) == size - 8:
        return head + rest
    if time.monotonic() < deadline:
        raise InputError(where, "the peer closed the connection inside the stream header")
    raise InputError(where, f"connected, but the stream header stopped coming for {timeout_s:g} s")


def probe_stream(address: str, port: int, where: str, timeout_s: float) -> tuple[socket.socket, bytes]:
    """A connection to ``address:port`` that has served a whole DV stream header; InputError
    within ~``timeout_s`` (twice that at most: connecting, then the header) otherwise. Keep it
    open until dv has connected: a dv writer in this process handles a client leaving on a
    thread that needs the GIL, which dv's connecting reader holds (a deadlock, measured)."""
    started = time.monotonic()
    sock = None
    try:
        sock = _connect(address, port, where, timeout_s)
        return sock, _read_header(sock, where, timeout_s)
    except KeyboardInterrupt:
        waited = time.monotonic() - started
        what = f"connected to {where}, no data for" if sock else f"no answer from {where} in"
        raise OpeningInterrupted(f"{what} {waited:.1f} s") from None
    except BaseException:
        if sock is not None:
            sock.close()
        raise


def _open_reader(address: str, port: int, where: str):
    try:
        return dv.io.NetworkReader(address, port)
    except (RuntimeError, IndexError, ValueError) as exc:
        if "refused" in str(exc).lower():
            raise InputError(where, "connection refused: is a DV network writer running there?") from None
        raise InputError(where, f"cannot connect ({_dv_reason(exc)})") from None


def open_network(host: str, port: int, stall_s: float = DEFAULT_STALL_S) -> LiveReader:
    """Client of a DV network writer (dv-processing NetworkWriter or DV's net output). Gives up
    (InputError) when the peer does not answer or sends nothing for ``stall_s``, before and
    while streaming (``LiveReader.stopped_reason == "stalled"``)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if ":" in host:
        raise InputError(where, "IPv6 addresses are not supported by dv-processing's network reader: "
                                "use the stream's IPv4 address or host name")
    try:  # dv's reader takes IP addresses only: "localhost" or a host name fails obscurely
        address = socket.gethostbyname(host)
    except (socket.gaierror, UnicodeError):
        raise InputError(where, f"unknown host {host!r}: check the name or use its IP address") from None
    sock, header = probe_stream(address, int(port), where, stall_s)
    relay = RelayProcess(sock, header, where)  # dv reads checked packets only (see relay.py)
    try:
        reader = _open_reader("127.0.0.1", relay.port, where)
        if not reader.isEventStreamAvailable():
            raise InputError(where, "the stream there carries no events")
    except BaseException:
        relay.close()
        raise
    return LiveReader(reader, where, stall_s, damage=relay.damage, on_close=relay.close)
