"""`maml_core` is an installable library: the wheel built from this repository holds the engine (and not the app or
the checkpoints), and installed into a fresh virtual environment it imports, adapts and runs its CLI."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(600)


def test_the_wheel_holds_the_engine_and_installs_into_a_fresh_venv(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels)], check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("maml_core-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "maml_core/algorithm.py" in names and "maml_core/geometry.py" in names
    assert not any(n.startswith(("ui/", "app_pages/", "assets/", "tests/")) for n in names), names
    env = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env)  # reuses the installed torch
    python = env / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, cwd=tmp_path)
    code = ("import maml_core, torch; from maml_core import adapt, build_model, get_params, ModelConfig;"
            "m = build_model(ModelConfig()); p = get_params(m); x = torch.rand(5, 1);"
            "s = adapt(m, p, x, torch.sin(x), steps=2, inner_lr=0.01); print(maml_core.__file__, len(s))")
    out = subprocess.run([str(python), "-c", code], check=True, cwd=tmp_path, capture_output=True, text=True).stdout
    path, states = out.split()
    assert str(env) in path and states == "3", out  # the installed copy, not this checkout
    cli = subprocess.run([str(env / "bin" / "maml-core"), "train", "--help"], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    assert "--algo" in cli
