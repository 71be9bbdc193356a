"""Codebase rules that a reviewer would otherwise have to remember (issue 21)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for d in ("maml_core", "ui", "app_pages", "benchmarks", "scripts") for p in (ROOT / d).rglob("*.py")]


def test_process_and_machine_facts_come_from_psutil_not_hand_parsed_proc_files():
    hand = [f"{p.relative_to(ROOT)}:{n}" for p in SOURCES
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(r"""["'/]proc/""", line.split("#")[0])]
    assert not hand, hand


def test_no_app_file_is_over_400_lines():
    """One concern per file: a view or page past 400 lines holds more than one (split it, as sinusoid_view was)."""
    long = {str(p.relative_to(ROOT)): n for d in ("ui", "app_pages") for p in (ROOT / d).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long
