"""No duplicated block of 6 or more lines outside tests/ (issue 21): pylint's duplicate-code check (R0801) over the
engine, the app, the benchmarks and the scripts, with the settings in pyproject.toml ([tool.pylint.similarities]):
imports, comments and signatures are not compared. (pylint compares files with each other, not a file with itself.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("maml_core", "ui", "app_pages", "benchmarks", "scripts")

pytest.importorskip("pylint")  # requirements-dev.txt


def duplicate_code(files: list[Path], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """pylint's duplicate-code check alone over `files`, with this repository's settings."""
    cmd = [sys.executable, "-m", "pylint", "--rcfile", str(ROOT / "pyproject.toml"), "--disable=all",
           "--enable=duplicate-code", "--score=n", "--persistent=n", *map(str, files)]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=280)
    assert out.returncode & (1 | 32) == 0, f"pylint did not run (exit {out.returncode}): {out.stderr[-2000:]}"
    return out


@pytest.mark.timeout(300)
def test_no_duplicated_block_outside_tests():
    files = [ROOT / "app.py", *(p for d in FOLDERS for p in sorted((ROOT / d).rglob("*.py")))]
    out = duplicate_code([p.relative_to(ROOT) for p in files])
    assert "R0801" not in out.stdout, "duplicated blocks (pylint R0801); move them to one function:\n" + out.stdout


def test_the_check_sees_a_block_copied_after_a_multiline_string(tmp_path):
    """The check is not blind: a 6-line block in two files is reported, also after a module-level string whose
    closing quotes start a line (what pylint's docstring skipping would take for a docstring's start)."""
    block = "".join(f"    total = total * {k} + len(name) - {k}\n" for k in range(6))
    for name in ("first", "second"):
        (tmp_path / f"{name}.py").write_text(f"PAGE = '''\nimport streamlit\n'''\n\n\ndef {name}(name, total):\n"
                                             f"{block}    return total\n")
    out = duplicate_code([tmp_path / "first.py", tmp_path / "second.py"], cwd=tmp_path)
    assert "R0801" in out.stdout, out.stdout
