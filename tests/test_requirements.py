"""requirements.txt off this machine: pip and uv, each at its default index strategy, resolve torch 2.13.0+cpu from a
stand-in for PyTorch's CPU index and every other pin from a stand-in for PyPI, both served on 127.0.0.1.

The fast part of scripts/check_requirements.py (its --stubs mode): the wheels on the two indexes are rebuilt from the
distributions installed in this Python (each one's own METADATA and WHEEL tags, no code), so the resolvers see what
the real wheels would show them, offline, in seconds; dry runs only. The stand-in for PyTorch's index also holds old
numpy, pillow and jinja2 (as the real one does), the stand-in for PyPI a plain torch 2.13.0 that needs nvidia-*
packages (as PyPI's does): the controls at the end show that the emulation tells a wrong file from a right one.
The real wheels, real installs and the timings are the script's (docs/DEPLOY.md)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_requirements", ROOT / "scripts" / "check_requirements.py")
cr = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = cr  # its dataclasses look their module up
_spec.loader.exec_module(cr)

REQUIREMENTS = (ROOT / "requirements.txt").read_text()
PINS = cr.pins(REQUIREMENTS)
IN_CI = bool(os.environ.get("CI"))


def need(ok: bool, reason: str) -> None:
    """Skip with the reason on a developer's machine; in CI (which installs requirements-dev.txt) it is a failure."""
    if not ok:
        if IN_CI:
            pytest.fail(f"{reason}: CI installs requirements-dev.txt, so this must be there")
        pytest.skip(reason)


def installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    uv = cr.uv_bin()
    need(uv is not None, "uv is not installed (it is in requirements-dev.txt)")
    off = {n: installed(n) for n, v in PINS.items() if installed(n) != v}
    need(not off, f"this Python's packages are not requirements.txt's pins ({off}): "
         "pip install -r requirements-dev.txt first, the stand-in wheels are rebuilt from them")
    tmp = tmp_path_factory.mktemp("requirements")
    try:
        a_wheels, b_wheels = cr.stub_wheelhouse(tmp / "stubs")
    except LookupError as e:
        need(False, f"the installed distributions cannot stand in for the wheels: {e}")
    cr.write_index(tmp / "a", "/whl/cpu", a_wheels)
    cr.write_index(tmp / "b", "/simple", b_wheels)
    a, b = cr.Site(tmp / "a"), cr.Site(tmp / "b")
    yield cr.Checker(tmp, a, b, uv)
    a.close()
    b.close()


def test_the_file_asks_for_the_cpu_build_from_pytorchs_torch_page_alone():
    options = [line.split() for line in REQUIREMENTS.splitlines() if line.startswith("-")]
    assert options == [["--find-links", f"{cr.PYTORCH_CPU}/torch/"]], options
    assert PINS["torch"] == cr.TORCH == "2.13.0+cpu"
    assert not re.search(r"^\s*--(extra-)?index-url", REQUIREMENTS, flags=re.M)  # uv: first index wins (DEPLOY.md)
    assert re.search(r"^-r requirements\.txt$", (ROOT / "requirements-dev.txt").read_text(), flags=re.M)


def test_pip_resolves_torch_cpu_from_the_pytorch_page_and_every_pin_from_pypi(checker):
    outcome = checker.pip(REQUIREMENTS)
    assert not outcome.verdict(PINS), outcome.line()
    assert set(outcome.asked_a) == {"torch"}, outcome.line()  # the find-links page, read for every project


def test_uv_resolves_torch_cpu_from_the_pytorch_page_and_every_pin_from_pypi(checker):
    compiled, text = checker.uv_compile(REQUIREMENTS)
    assert not compiled.verdict(PINS), compiled.line()
    torch_block = re.search(r"^torch==2\.13\.0\+cpu\n(?:\s+#.*\n?)+", text, flags=re.M)
    assert torch_block and f"# from {checker.a.url}/whl/cpu/torch/" in torch_block[0], text
    assert text.count(f"# from {checker.b.url}/simple") == len(compiled.versions) - 1, text
    dry = checker.uv_run(REQUIREMENTS)
    assert not dry.verdict(PINS), dry.line()


def test_controls_an_extra_index_breaks_uv_and_a_plain_pin_takes_the_cuda_build(checker):
    extra, _ = checker.uv_compile(cr.with_alternative(REQUIREMENTS, cr.ALTERNATIVES["extra-index-url"]))
    assert not extra.ok and "first index that contains a given package" in extra.output, extra.line()
    plain, _ = checker.uv_compile(cr.with_alternative(REQUIREMENTS, cr.ALTERNATIVES["plain torch==2.13.0"]))
    assert plain.ok and plain.versions["torch"] == "2.13.0", plain.line()
    assert {n for n in plain.versions if n.startswith("nvidia-")} == set(cr.NVIDIA), plain.line()
