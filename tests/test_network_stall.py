"""Network inputs never hang: a peer that accepts and sends nothing, sends something else, stops
inside a packet, is SIGSTOPped or SIGKILLed mid-stream. Through the source API and through
``r2etl classify`` in a subprocess; every wait is bounded (loopback only)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from r2etl_core.errors import InputError
from r2etl_core.io import dv as dvio
from r2etl_core.stream.sources import NetworkSource, open_source

REPO = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).resolve().parent / "net_peers.py"
CLI_TIMEOUT_S = 180  # torch import + model load on a busy 2-core machine, then the run


class SilentServer:
    """Accepts connections on 127.0.0.1 and sends ``banner`` (nothing by default), then waits."""

    def __init__(self, banner: bytes = b""):
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.accepted = threading.Event()
        self._conns: list[socket.socket] = []
        self._banner = banner
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._server.accept()
                self._conns.append(conn)
                if self._banner:
                    conn.sendall(self._banner)
                self.accepted.set()

    def close(self) -> None:
        self._server.close()
        for conn in self._conns:
            conn.close()


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()


def wait_for_line(proc: subprocess.Popen, text: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.strip() == text:
                return
            assert line, f"peer ended before {text!r}"
    raise AssertionError(f"no {text!r} from the peer in {timeout_s} s")


@contextlib.contextmanager
def peer(mode: str, port: int, *args: str):
    """A peer process (tests/net_peers.py), always resumed and killed at the end."""
    proc = subprocess.Popen([sys.executable, str(PEERS), mode, str(port), *args], stdout=subprocess.PIPE, text=True)
    try:
        wait_for_line(proc, "ready")
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait(10)


class Ticker(threading.Thread):
    """Counts while the test waits: proof that the interpreter was never frozen."""

    def __init__(self):
        super().__init__(daemon=True)
        self.ticks, self.stop = 0, threading.Event()

    def run(self):
        while not self.stop.wait(0.05):
            self.ticks += 1


def drain(source) -> tuple[int, threading.Thread]:
    count = [0]

    def run():
        for batch in source.batches():
            count[0] += len(batch)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return count, thread


# ---------------------------------------------------------------- source API

def test_silent_peer_fails_to_open_within_the_stall_limit(silent):
    ticker = Ticker()
    ticker.start()
    t0 = time.monotonic()
    with pytest.raises(InputError) as err:
        NetworkSource("127.0.0.1", silent.port, stall_s=0.5)
    waited = time.monotonic() - t0
    ticker.stop.set()
    assert str(err.value) == (f"127.0.0.1:{silent.port}: connected, no data for 0.5 s "
                              "(is a DV event stream served there?)")
    assert 0.45 <= waited < 5 and ticker.ticks >= 5  # the process ran on while it waited


def test_peer_that_sends_something_else_is_named():
    server = SilentServer(banner=b"SSH-2.0-OpenSSH_9.6\r\n")
    try:
        with pytest.raises(InputError, match="not a DV event stream: the peer sent something else"):
            open_source(f"127.0.0.1:{server.port}", stall_s=2)
    finally:
        server.close()


def test_a_packet_cut_short_never_blocks_and_the_stall_ends_the_stream(free_port):
    with peer("partial", free_port):
        src = NetworkSource("127.0.0.1", free_port, stall_s=1.0)
        ticker = Ticker()
        ticker.start()
        count, thread = drain(src)
        thread.join(10)
        ticker.stop.set()
        assert not thread.is_alive() and count[0] == 1000  # the whole packet, not the half
        assert ticker.ticks >= 15
        assert src.end_reason.startswith(f"connected to 127.0.0.1:{free_port}, no data for 1 s (gave up after")


def test_stopped_peer_ends_the_stream_after_the_stall_limit(free_port):
    with peer("stream", free_port) as proc:
        src = open_source(f"127.0.0.1:{free_port}", stall_s=1.0)
        count, thread = drain(src)
        wait_for_line(proc, "streaming")
        os.kill(proc.pid, signal.SIGSTOP)  # the kernel still holds the connection open
        stopped = time.monotonic()
        thread.join(15)
        assert not thread.is_alive() and count[0] > 0
        assert 0.9 <= time.monotonic() - stopped < 10
        assert "no data for 1 s" in src.end_reason
        src.close()
        assert "no data for 1 s" in src.end_reason  # close() after the end keeps the reason


def test_lost_after_is_when_it_was_lost(free_port):
    with peer("stream", free_port) as proc:
        src = open_source(f"127.0.0.1:{free_port}")
        count, thread = drain(src)
        wait_for_line(proc, "streaming")
        proc.kill()
        thread.join(15)
        time.sleep(1.5)  # asked later, it still says when the connection went
    seconds = float(src.end_reason.rsplit("after ", 1)[1].removesuffix(" s"))
    assert src.end_reason.startswith(f"connection to 127.0.0.1:{free_port} lost after")
    assert seconds < 1.4 + 5 and count[0] > 0


# ---------------------------------------------------------------- r2etl classify

def default_sigint() -> None:
    """In the child before exec: Ctrl+C as a terminal delivers it. A test run as a background
    job of a script starts with SIGINT ignored, and a child inherits that: it would never see
    the SIGINT these tests send (test_cli_ctrl_c_* then timed out under `nohup make test &`)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def classify(port: int, *flags: str, argv: list[str] | None = None) -> subprocess.Popen:
    command = argv or [sys.executable, "-m", "r2etl_core.cli.main"]
    return subprocess.Popen([*command, "classify", f"127.0.0.1:{port}", "--device", "cpu", "--json", *flags],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)


def finish(proc: subprocess.Popen, timeout_s: float = CLI_TIMEOUT_S) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout_s)
    finally:
        proc.kill()
    assert "Traceback" not in err, err
    return proc.returncode, out, err


def summary_of(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_cli_gives_up_on_a_silent_peer_with_one_line(silent):
    code, out, err = finish(classify(silent.port, "--stall-s", "1"))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"r2etl classify: error: 127.0.0.1:{silent.port}: connected, "
                                        "no data for 1 s (is a DV event stream served there?)"]


def test_cli_ctrl_c_while_waiting_prints_the_summary(silent):
    proc = classify(silent.port, "--stall-s", "120")
    assert silent.accepted.wait(CLI_TIMEOUT_S)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc, 60)
    summary = summary_of(out)
    assert code == 0 and summary["interrupted"] is True and summary["slices"] == 0
    assert summary["input_lost"].startswith(f"connected to 127.0.0.1:{silent.port}, no data for")


# r2etl's main(), saying 'up' when it starts loading the commands (torch: seconds), so the
# SIGINT lands while they load, not in this harness before main() is called
STARTING = ("import sys; from r2etl_core.cli import main as m; load = m.build_parser; "
            "m.build_parser = lambda c: print('up', flush=True) or load(c); sys.exit(m.main(sys.argv[1:]))")


def test_cli_ctrl_c_while_it_starts_prints_the_summary(silent):
    """Ctrl+C as soon as main() runs (r2etl is importing torch): the summary, not a
    traceback. The child starts with SIGINT ignored, as under `nohup ... &`, and the test sets
    it back to default, as it must for any child it interrupts."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = classify(silent.port, "--stall-s", "120", argv=[sys.executable, "-c", STARTING])
    finally:
        signal.signal(signal.SIGINT, old)
    assert proc.stdout.readline() == "up\n"
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc, 60)
    summary = summary_of(out)
    assert code == 0 and summary["interrupted"] is True and summary["slices"] == 0, err
    assert summary["input"] == f"127.0.0.1:{silent.port}"


def test_interrupted_while_loading_is_a_summary_in_process(monkeypatch, capsys):
    from r2etl_core.cli import main as cli

    def slow_import(command):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "build_parser", slow_import)
    assert cli.main(["classify", "rec.aedat4", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["interrupted"] is True and json.loads(out)["input"] == "rec.aedat4" and err == ""
    assert cli.main(["info", "x"]) == 130 and capsys.readouterr().err == "r2etl info: interrupted\n"


def test_cli_summary_says_the_peer_was_killed(free_port):
    with peer("stream", free_port) as server:
        proc = classify(free_port)
        wait_for_line(server, "streaming", CLI_TIMEOUT_S)
        time.sleep(0.5)
        server.kill()  # SIGKILL mid-stream
        code, out, err = finish(proc)
    summary = summary_of(out)
    assert code == 0 and summary["events"] > 0 and summary["interrupted"] is False
    assert summary["input_lost"].startswith(f"connection to 127.0.0.1:{free_port} lost after")


def test_cli_summary_says_the_peer_stalled(free_port):
    with peer("stream", free_port) as server:
        proc = classify(free_port, "--stall-s", "1.5")
        wait_for_line(server, "streaming", CLI_TIMEOUT_S)
        os.kill(server.pid, signal.SIGSTOP)
        code, out, err = finish(proc)
    summary = summary_of(out)
    assert code == 0 and summary["events"] > 0
    assert summary["input_lost"].startswith(f"connected to 127.0.0.1:{free_port}, no data for 1.5 s")


@pytest.mark.parametrize("value", ["0", "nan", "-3"])
def test_cli_stall_flag_is_checked(value, capsys):
    from r2etl_core.cli.main import main

    assert main(["classify", "127.0.0.1:9", "--stall-s", value]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"r2etl classify: error: --stall-s: must be between 0.1 and 86400 s, got {float(value)}"]


def test_every_stall_default_is_the_one_in_limits():
    from r2etl_core import limits
    from r2etl_core.cli import stream as cli_stream
    from r2etl_core.stream.classify import ClassifyRequest

    assert cli_stream.DEFAULT_STALL_S is dvio.DEFAULT_STALL_S is limits.DEFAULT_STALL_S
    assert ClassifyRequest("x").stall_s == limits.DEFAULT_STALL_S


def test_an_ipv6_address_gets_the_real_reason_not_unknown_host():
    from r2etl_core.errors import InputError
    from r2etl_core.stream.sources import open_source

    with pytest.raises(InputError) as err:
        open_source("[::1]:7777")
    assert str(err.value).startswith("[::1]:7777: IPv6 addresses are not supported")


# ---------------------------------------------------------------- damaged streams

@pytest.mark.parametrize("damage", ["0", "1", "2", "3", "4", "5", "6", "size"])
def test_a_damaged_stream_ends_with_one_line_naming_peer_and_byte(free_port, damage):
    """A valid header, a good packet, then random bytes (or a packet whose size field is
    damaged): dv-processing aborted the process on these (4 of 7 seeds); now dv only sees the
    checked packets and the stream ends with an error naming the peer and the byte."""
    with peer("damaged", free_port, damage):
        src = NetworkSource("127.0.0.1", free_port, stall_s=20)
        events, error = 0, None
        try:
            for batch in src.batches():
                events += len(batch)
        except InputError as exc:
            error = str(exc)
        finally:
            src.close()
    assert error is not None and error.startswith(f"127.0.0.1:{free_port}: damaged stream from byte ")
    assert int(error.split("from byte ")[1].split()[0]) > 1000 and events == 1000  # the good packet first
    assert src.end_reason is not None and "damaged stream" in src.end_reason


def test_cli_on_a_damaged_stream_is_one_line_and_exit_2(free_port):
    with peer("damaged", free_port, "3"):
        code, out, err = finish(classify(free_port, "--stall-s", "20"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"r2etl classify: error: 127.0.0.1:{free_port}: damaged stream from byte ")
