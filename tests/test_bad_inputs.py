"""Keep it fixed: every bad input of scripts/make_bad_inputs.py gives exit code 2 and exactly
one line on stderr naming the file or flag at fault; no traceback, no hang, no stray warning.

The corpus is built once per session. Cases run through the real CLI in their own process
(``python -m r2etl_core.cli.main``, with a timeout), several at a time; cases marked
``spawn=False`` (their path through the entry point is covered by a spawned sibling, and each
spawn that loads torch costs ~3 s of CPU) run the same ``main`` in-process. Permission
problems cannot be staged as root (chmod 000 does not stop root), so they are checked by
making ``os.access`` say no.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from r2etl_core.cli.main import main
from scripts import make_bad_inputs as bad

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


SPAWNED = [c for c in bad.CASES if c.spawn]
IN_PROCESS = [c for c in bad.CASES if not c.spawn]


def _cuda() -> bool:
    from r2etl_core.parse import cuda_available

    return cuda_available()


def skip_reason(case) -> str | None:
    if case.needs == "shared" and not (SHARED / "recordings").is_dir():
        return "needs ../shared/data beside the checkout (real recordings)"
    if case.needs == "no-cuda" and _cuda():
        return "CUDA is available here: '--device cuda' is not a bad input on this machine"
    return None


def _marks(case) -> list:
    marks = [pytest.mark.shared] if case.needs == "shared" else []
    if case.known_gap:
        marks.append(pytest.mark.xfail(reason=case.known_gap, strict=True))
    return marks


def _params(cases):
    return [pytest.param(c, id=c.name, marks=_marks(c)) for c in cases]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return bad.build_corpus(tmp_path_factory.mktemp("bad-inputs") / "corpus")


@pytest.fixture(scope="session")
def spawned(request, corpus) -> dict:
    """Every selected spawned case run at once (3 processes at a time): name -> result or the
    TimeoutExpired it raised. Only the cases this session selected (e.g. with -k) are run."""
    wanted = {item.callspec.params["case"].name for item in request.session.items
              if getattr(item, "originalname", "") == "test_cli_refuses_cleanly" and hasattr(item, "callspec")}
    cases = [c for c in SPAWNED if c.name in wanted and not skip_reason(c)]

    def run(case):
        try:
            return bad.run_case(case, corpus, SHARED, timeout=90)
        except Exception as exc:  # noqa: BLE001 - TimeoutExpired is the interesting one
            return exc

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip((c.name for c in cases), pool.map(run, cases)))


def check_one_line(case, code: int, stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert code == 2, f"exit code {code}, stderr: {stderr[-2000:]}"
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr[-2000:]}"
    assert case.named in lines[0], f"the line does not name {case.named!r}: {lines[0]}"
    assert case.reason in lines[0], f"the line does not give the reason {case.reason!r}: {lines[0]}"
    assert lines[0].startswith(f"r2etl {case.argv[0]}: error: "), lines[0]


@pytest.mark.parametrize("case", _params(SPAWNED))
def test_cli_refuses_cleanly(case, spawned):
    if reason := skip_reason(case):
        pytest.skip(reason)
    result = spawned[case.name]
    if isinstance(result, Exception):
        pytest.fail(f"{case.name}: {type(result).__name__}: {result} (a hang?)")
    check_one_line(case, result.returncode, result.stderr)


@pytest.mark.parametrize("case", _params(IN_PROCESS))
def test_main_refuses_cleanly_in_process(case, corpus, capsys):
    if reason := skip_reason(case):
        pytest.skip(reason)
    code = main(case.command(corpus, SHARED))
    check_one_line(case, code, capsys.readouterr().err)


@pytest.mark.parametrize("argv,target", [
    (["info", "{c}/good.bin"], "{c}/good.bin"),
    (["info", "{c}/models/good.safetensors"], "{c}/models/good.safetensors"),
    (["eval", "--data", "nmnist:{c}/nmnist"], "{c}/nmnist"),
    (["eval", "--data", "nmnist:{c}/nmnist"], "{c}/nmnist/4/00001.bin"),
    (["train", "--config", "{c}/configs/zero-time-steps.toml"], "{c}/configs/zero-time-steps.toml"),
])
def test_unreadable_files_and_folders_say_permission_denied(corpus, capsys, monkeypatch, argv, target):
    target = target.format(c=corpus)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if str(p) == target else real_access(p, mode))
    code = main([a.format(c=corpus) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "permission denied" in err and target in err, err


def test_the_good_inputs_of_the_corpus_are_good(corpus, capsys):
    """The bad variants are bad for the reason given, not because the base file was broken."""
    for path in ("good.bin", "good.aedat4", "models/good.safetensors"):
        assert main(["info", str(corpus / path)]) == 0, capsys.readouterr().err
