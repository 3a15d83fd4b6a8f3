"""Shared fixtures: isolated environment, generated IDX data, CLI runner, plugin cleanup."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from ablate import plugins
from ablate.data import IDX_FILES, write_idx

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No user data, cache or plugin settings leak into a test; each test has its own cwd."""
    for var in ("ABLATE_DATA", "ABLATE_PLUGINS", "ABLATE_DISABLE_PLUGINS", "ABLATE_STORAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("ABLATE_WORKERS", "1")  # tests opt in to worker pools explicitly
    monkeypatch.setenv("ABLATE_FUSE", "1")  # ... and to fused groups (auto would time them)
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    yield


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    """Reload plugins before and after a test that changes the environment they read."""
    plugins.reset_for_tests()
    yield
    plugins.reset_for_tests()


def make_idx_dir(directory: Path, n_train: int = 256, n_test: int = 64, size: int = 28) -> Path:
    """Small, learnable Fashion-MNIST-format files: class k is a bright band at row 2k."""
    g = torch.Generator().manual_seed(7)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = torch.arange(n) % 10
        images = (torch.rand(n, size, size, generator=g) * 60).to(torch.uint8)
        for i, label in enumerate(labels.tolist()):
            images[i, 2 * label + 3 : 2 * label + 6, :] = 220
        prefix = "train" if split == "train" else "t10k"
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels.to(torch.uint8))
    return directory


@pytest.fixture
def idx_dir(tmp_path: Path) -> Path:
    return make_idx_dir(tmp_path / "fmnist")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli() -> object:
    """Run ``ablate ARGS`` in-process and capture exit code, stdout and stderr."""
    from ablate.cli import main

    def invoke(*args: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return CliResult(code, out.getvalue(), err.getvalue())

    return invoke


def ablate_command() -> list[str]:
    """The installed ``ablate`` command, for tests that need a real process."""
    return [sys.executable, "-m", "ablate"]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(COLUMNS="80", ABLATE_WORKERS="1", ABLATE_FUSE="1", **extra)
    env.pop("ABLATE_DATA", None)
    return env


__all__ = ["IDX_FILES", "ROOT", "ablate_command", "make_idx_dir", "subprocess_env"]
