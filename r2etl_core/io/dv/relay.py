"""A checked relay between a DV network peer and dv-processing's reader, in its own process.

Why: dv-processing 2.0.4 parses network packets on its own thread and aborts the whole process
(``std::length_error``, SIGABRT, no message) on a damaged one: a peer that sends a valid header
and then garbage killed ``r2etl classify`` and the viewer within 2 s. So dv never talks to the
peer: it connects to this relay, which forwards only packets that pass the same checks as a
damaged file's (``guard``: a known stream, a plausible size, the compression framing, and for
events the decoded times and coordinates). At the first bad packet it stops forwarding, closes
both connections and reports the byte offset; the reader then ends the stream with that line.

A process, not a thread: dv's reader holds the interpreter lock while it connects and reads
the header, so a relay thread of the same process could never send it (a deadlock). The
parent passes the connection it already holds (the probe that read the header) and the
header bytes; the relay prints ``port N`` once listening, and ``damage OFFSET PROBLEM`` if a
packet is bad.

    python -c "from r2etl_core.io.dv.relay import main; main()" FD     (header bytes on stdin)
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time

from r2etl_core.errors import InputError

MAX_PACKET_BYTES = 256 << 20  # dv's own packets stay far below; a damaged size is gigabytes
ACCEPT_TIMEOUT_S = 60.0
LINGER_S = 0.5  # the connection to dv stays open this long after the last packet
RELAY_MAIN = "from r2etl_core.io.dv.relay import main; main()"


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(min(count - len(data), 1 << 20))
        if not chunk:
            break
        data += chunk
    return bytes(data)


class PacketChecker:
    """The checks of ``guard`` on a stream: the header's streams and compression, then packets."""

    def __init__(self, header: bytes):
        from r2etl_core.io.dv import guard
        from r2etl_core.io.dv._flatbuf import field_at, fields_of, unpack, vector_of

        self._guard = guard
        buf = memoryview(header)[4:]
        fields = fields_of(buf, unpack("<I", buf, 0))
        compression = unpack("<i", buf, fields[0]) if field_at(fields, 0) else 0
        start, length = vector_of(buf, fields[2], 1)
        self.streams = guard._streams(bytes(buf[start:start + length]).decode("utf-8"))
        self.compression, self.decompress = compression, guard._decompressor(compression)
        self._last_t: dict[int, int] = {}

    def head_problem(self, stream_id: int, size: int) -> str | None:
        if stream_id not in self.streams:
            return f"a packet of unknown stream {stream_id}"
        if not 8 <= size <= MAX_PACKET_BYTES:
            return f"a packet of impossible size {size}"
        return None

    def payload_problem(self, stream_id: int, payload: bytes) -> str | None:
        g, stream = self._guard, self.streams[stream_id]
        problem = g._framing_problem(self.compression, payload[:8], payload[-8:], len(payload))
        if problem or stream.kind != "EVTS":
            return problem
        try:
            times = g._check_events(self.decompress(payload), stream, self._last_t.get(stream_id))
        except g._DECODE_ERRORS as exc:
            return f"a damaged event packet ({g._short(exc)})"
        if times:
            self._last_t[stream_id] = times[1]
        return None


def relay(upstream: socket.socket, header: bytes, out) -> None:
    """Serve one client (dv's reader) on 127.0.0.1: the header, then every checked packet."""
    checker = PacketChecker(header)
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(f"port {server.getsockname()[1]}", file=out, flush=True)
        server.settimeout(ACCEPT_TIMEOUT_S)
        down, _ = server.accept()
    with down, upstream:
        try:
            _forward(checker, upstream, down, header, out)
        finally:  # dv drops packets that arrive together with the end of the connection
            time.sleep(LINGER_S)


def _forward(checker: PacketChecker, upstream: socket.socket, down: socket.socket, header: bytes, out) -> None:
    """The header, then packets while they pass; returns at the end of the stream or the damage."""
    down.sendall(header)
    offset = len(header)
    while head := _recv_exactly(upstream, 8):
        stream_id, size = struct.unpack("<ii", head) if len(head) == 8 else (None, 0)
        problem = "the stream ends inside a packet header" if stream_id is None \
            else checker.head_problem(stream_id, size)
        payload = b"" if problem else _recv_exactly(upstream, size)
        if not problem and len(payload) < size:
            return  # the peer went away mid-packet: a lost connection, not damage
        problem = problem or checker.payload_problem(stream_id, payload)
        if problem:
            print(f"damage {offset} {problem}", file=out, flush=True)
            return
        down.sendall(head + payload)
        offset += 8 + size


class RelayProcess:
    """The parent's side: starts the relay on ``upstream`` (already past the header) and
    collects its report; ``port`` is where dv should connect."""

    def __init__(self, upstream: socket.socket, header: bytes, where: str):
        self.where = where
        self._damage: str | None = None
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_package_root(),
                                                                         os.environ.get("PYTHONPATH")]))}
        self._proc = subprocess.Popen([sys.executable, "-c", RELAY_MAIN, str(upstream.fileno())],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      pass_fds=(upstream.fileno(),), env=env)
        upstream.close()  # the relay holds it now
        self._proc.stdin.write(header)
        self._proc.stdin.close()
        line = self._proc.stdout.readline().decode(errors="replace").split()
        if len(line) != 2 or line[0] != "port":
            self.close()
            raise InputError(where, "not a DV event stream: its header cannot be read")
        self.port = int(line[1])
        self._reports = threading.Thread(target=self._read_reports, name="r2etl-relay-report", daemon=True)
        self._reports.start()

    def _read_reports(self) -> None:
        for raw in self._proc.stdout:
            text = raw.decode(errors="replace").strip()
            if text.startswith("damage "):
                offset, _, problem = text.removeprefix("damage ").partition(" ")
                self._damage = f"damaged stream from byte {offset} on: {problem}"

    def damage(self) -> InputError | None:
        """Why the stream ended, once dv saw it end: the relay reports damage before it closes
        the connection, so its last line is in (or arrives within moments)."""
        self._reports.join(timeout=2.0)
        return InputError(self.where, self._damage) if self._damage else None

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def main() -> None:
    """The relay process (``RelayProcess`` starts it): the peer's connection is file
    descriptor argv[1], the header comes on stdin."""
    upstream = socket.socket(fileno=int(sys.argv[1]))
    upstream.setblocking(True)  # the probe's timeout made it non-blocking
    header = sys.stdin.buffer.read()
    try:
        relay(upstream, header, sys.stdout)
    except (OSError, ValueError):
        pass  # the parent closed, or the peer reset: dv sees the connection end
