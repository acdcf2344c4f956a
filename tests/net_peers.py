"""Network peers for the stall and lost-connection tests, each run as its own process (a dv
writer in the test's own process could not stand for a remote DV instance: it shares the GIL).

    python tests/net_peers.py stream PORT    a real dv writer: 34x34 events, ~50 k/s, until
                                             killed or stopped (the test sends the signal)
    python tests/net_peers.py partial PORT   a header, one whole packet of 1000 events, half of
                                             the next packet, then nothing (bytes dv itself made)
    python tests/net_peers.py damaged PORT SEED   a header, one whole packet, then 64 KiB of
                                             random bytes (SEED) or, with SEED "size", a packet
                                             whose size field is damaged; then nothing

Each prints "ready" once it listens, then "streaming" once a client got events.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r2etl_core.io import dv as dvio  # noqa: E402
from scripts.synthetic_events import random_events  # noqa: E402

SIZE = 34


def stream(port: int) -> None:
    writer = dvio.NetworkEventWriter("127.0.0.1", port, SIZE, SIZE, "peer")
    print("ready", flush=True)
    writer.wait_for_clients(1, timeout_s=120)
    t, k = 0, 0
    while True:
        ev = random_events(1000, SIZE, SIZE, duration_us=20_000, t0_us=t, seed=k)
        writer.write(ev)
        t, k = t + 20_000, k + 1
        if k == 25:
            print("streaming", flush=True)
        time.sleep(0.02)


def _capture() -> tuple[bytes, bytes]:
    """The header and one 1000-event packet exactly as a dv writer sends them."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    writer = dvio.NetworkEventWriter("127.0.0.1", port, SIZE, SIZE, "peer")
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    header = _read_some(client, 0.3)
    writer.write(random_events(1000, SIZE, SIZE, seed=1))
    packet = _read_some(client, 0.3)
    client.close()
    writer.close(timeout_s=5)
    return header, packet


def _read_some(sock: socket.socket, quiet_s: float) -> bytes:
    sock.settimeout(quiet_s)
    data = b""
    try:
        while chunk := sock.recv(1 << 16):
            data += chunk
    except socket.timeout:
        pass
    return data


def partial(port: int) -> None:
    header, packet = _capture()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen(4)
        print("ready", flush=True)
        clients = []
        while True:  # the probe, then dv's reader: each gets the same bytes
            conn, _ = server.accept()
            clients.append(conn)
            conn.sendall(header + packet + packet[: len(packet) // 2])
            if len(clients) == 2:
                print("streaming", flush=True)


def damaged(port: int, seed: str) -> None:
    import random

    header, packet = _capture()
    if seed == "size":  # a plausible packet whose size field says 1 GB
        bad = packet[:4] + (1 << 30).to_bytes(4, "little") + packet[8:]
    else:
        bad = random.Random(int(seed)).randbytes(1 << 16)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen(4)
        print("ready", flush=True)
        clients = []
        while True:  # the probe, then any other connection: each gets the same bytes
            conn, _ = server.accept()
            clients.append(conn)
            conn.sendall(header + packet + bad)
            print("streaming", flush=True)


if __name__ == "__main__":
    mode, port_text = sys.argv[1:3]
    if mode == "damaged":
        damaged(int(port_text), sys.argv[3])
    else:
        {"stream": stream, "partial": partial}[mode](int(port_text))

