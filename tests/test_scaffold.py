"""``ablate.scaffold.write_skeleton``: the generated package installs and passes its test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ablate.config import read_toml
from ablate.errors import AblateError
from ablate.scaffold import write_skeleton
from conftest import subprocess_env


def _install_as_pip_would(package: Path, site: Path) -> None:
    """A dist-info built from the generated pyproject.toml, so its entry point is what loads."""
    project = read_toml(package / "pyproject.toml")["project"]
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = [f"{name} = {target}" for name, target in project["entry-points"]["ablate"].items()]
    (dist / "entry_points.txt").write_text("[ablate]\n" + "\n".join(lines) + "\n")


def test_generated_package_passes_its_own_test(tmp_path: Path) -> None:
    package = write_skeleton("tiny-net", tmp_path / "out")
    assert package == tmp_path / "out" / "ablate-tiny-net"
    assert sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()) == [
        "README.md",
        "pyproject.toml",
        "src/ablate_tiny_net/__init__.py",
        "tests/test_ablate_tiny_net.py",
    ]
    pyproject = read_toml(package / "pyproject.toml")
    assert pyproject["project"]["entry-points"]["ablate"] == {"tiny-net": "ablate_tiny_net"}

    site = tmp_path / "site"
    _install_as_pip_would(package, site)
    env = subprocess_env(PYTHONPATH=f"{site}{':'}{package / 'src'}", OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert " passed" in out.stdout and "failed" not in out.stdout


def test_generated_sources_are_ruff_clean(tmp_path: Path) -> None:
    package = write_skeleton("lint-me", tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", str(package)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    "name", ["", "My-Net", "my_net", "my net", "-net", "net-", "a--b", "../evil", "café"]
)
def test_bad_names_are_one_clear_line(name: str, tmp_path: Path) -> None:
    with pytest.raises(AblateError, match="lowercase letters, digits and single dashes") as info:
        write_skeleton(name, tmp_path)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_builtin_names_are_refused(tmp_path: Path) -> None:
    for name in ("lenet5", "plugins"):
        with pytest.raises(AblateError, match="taken by ablate's built-ins"):
            write_skeleton(name, tmp_path)


def test_existing_directory_is_never_overwritten(tmp_path: Path) -> None:
    mine = tmp_path / "ablate-mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(AblateError, match="already exists"):
        write_skeleton("mine", tmp_path)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_digits_and_dashes_make_a_valid_module(tmp_path: Path) -> None:
    package = write_skeleton("3d-net2", tmp_path)
    source = (package / "src" / "ablate_3d_net2" / "__init__.py").read_text()
    compile(source, "ablate_3d_net2/__init__.py", "exec")
    assert 'register("3d-net2", mlp' in source
