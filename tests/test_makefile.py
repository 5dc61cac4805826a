"""The Makefile on machines that cannot make a virtual environment: one clear line, and no half-made .venv left
for every later `make` to trip over (Debian's python3 without python3-venv leaves .venv/bin/python behind)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import REPO


def _make(folder: Path, python: Path | str) -> subprocess.CompletedProcess[str]:
    shutil.copy(REPO / "Makefile", folder / "Makefile")
    return subprocess.run(
        ["make", "--no-print-directory", ".venv/.ready", f"PYTHON={python}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _one_line(stderr: str) -> str:
    """The message of make's `$(error ...)`, asserting that it is all make said."""
    (line,) = stderr.strip().splitlines()
    match = re.fullmatch(r"Makefile:\d+: \*\*\* (.*)\.  Stop\.", line)
    assert match is not None, line
    return match[1]


def _fake_python(folder: Path, script: str) -> Path:
    """A python3 that behaves like the real one except where `script` (bash, with $REAL set) decides otherwise."""
    fake = folder / "fake-python3"
    fake.write_text(f'#!/usr/bin/env bash\nREAL="{sys.executable}"\n{script}\nexec "$REAL" "$@"\n')
    fake.chmod(0o755)
    return fake


def test_a_python_without_venv_stops_make_with_one_line(tmp_path: Path) -> None:
    # Debian's python3 without python3-venv: the venv module is there, ensurepip is not.
    shadow = tmp_path / "shadow" / "ensurepip"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('ensurepip is not installed')\n")
    python = _fake_python(tmp_path, f'export PYTHONPATH="{shadow.parent}"')

    result = _make(tmp_path, python)
    assert result.returncode != 0
    assert _one_line(result.stderr) == (
        f"{python} cannot make a virtual environment: install its venv module"
        " (Debian/Ubuntu: apt-get install python3-venv)"
    )
    assert not (tmp_path / ".venv").exists()


def test_a_python_too_old_stops_make_with_one_line(tmp_path: Path) -> None:
    python = _fake_python(tmp_path, '[ "$1" = -c ] && [[ "$2" == *version_info* ]] && { echo False; exit 0; }')
    result = _make(tmp_path, python)
    assert result.returncode != 0
    assert _one_line(result.stderr) == (
        f"Authorium needs Python 3.11 or newer, and {python} does not run as one"
        " (install python3, or pick another: make PYTHON=python3.12 ...)"
    )
    assert not (tmp_path / ".venv").exists()


def test_a_python_that_is_not_there_stops_make_with_one_line(tmp_path: Path) -> None:
    result = _make(tmp_path, tmp_path / "no-such-python3")
    assert result.returncode != 0
    assert _one_line(result.stderr).startswith("Authorium needs Python 3.11 or newer, and ")
    assert not (tmp_path / ".venv").exists()


def test_a_venv_that_fails_halfway_leaves_nothing(tmp_path: Path) -> None:
    # What `python3 -m venv` does where ensurepip fails late: the interpreter is in place, pip never arrives.
    python = _fake_python(
        tmp_path, '[ "$1" = -m ] && [ "$2" = venv ] && { mkdir -p "$3/bin"; ln -s "$REAL" "$3/bin/python"; exit 1; }'
    )
    result = _make(tmp_path, python)
    assert result.returncode != 0
    assert "removed what was made" in result.stderr
    assert not (tmp_path / ".venv").exists()


@pytest.mark.slow
def test_a_half_made_venv_is_made_again(tmp_path: Path) -> None:
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("")  # what a build stopped halfway may leave
    result = _make(tmp_path, sys.executable)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".venv" / ".ready").exists()
    pip = subprocess.run([tmp_path / ".venv" / "bin" / "python", "-m", "pip", "--version"], capture_output=True)
    assert pip.returncode == 0
