"""Shared fixtures: the real data beside the checkout, and a free TCP port on 127.0.0.1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
PROJECT_RECORDINGS = REPO_ROOT / "recordings"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (real recordings, N-MNIST), or skip."""
    if not (SHARED_DATA / "recordings").is_dir():
        pytest.skip("needs ../shared/data beside the checkout (real recordings)")
    return SHARED_DATA


@pytest.fixture
def free_port() -> int:
    """A port nobody listens on right now (the OS picks it; tiny race, fine for tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models: one intra-op thread is faster, and far faster on a shared, busy CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
