"""Every example script runs (on synthetic data, quickly)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, subprocess_env


def test_quickstart_example_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--epochs", "1"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "wide-mlp" in out.stdout and "bn:hidden" in out.stdout
