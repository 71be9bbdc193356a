#!/usr/bin/env python3
"""Does requirements.txt give the CPU-only torch off this machine, with pip and with uv? Checked on loopback.

This machine's pip settings resolve any torch line to a local CPU wheel, and PyTorch's index cannot be reached from
here, so a plain install here proves nothing about Streamlit Community Cloud. This script stands up two package
indexes on 127.0.0.1 and points requirements.txt at them:

  A  stands in for PyTorch's CPU index (https://download.pytorch.org/whl/cpu): a PEP 503 index holding torch
     2.13.0+cpu and, as PyTorch's index does, old numpy, pillow and jinja2 wheels;
  B  stands in for PyPI: every other wheel the requirements need (the old ones too), plus a stand-in for PyPI's
     plain torch 2.13.0 (the CUDA build) that requires nvidia-* packages (tiny stand-ins as well).

The requirements file's own lines are used as they are, the PyTorch address swapped for A's. With this machine's
pip settings switched off (PIP_CONFIG_FILE=/dev/null, no PIP_* or UV_* variables, uv --no-config), it runs, in fresh
virtual environments and at each tool's default index strategy:

  pip install --dry-run --report   (the pip of a fresh venv, B as its --index-url)
  uv pip compile / uv pip install --dry-run   (B as its --index-url)
  with --install: real installs with uv and with pip, then `import torch, numpy` in each venv

and prints what each resolved, where torch came from (A's request log and pip's report), and how long it took. It
fails unless both tools give torch 2.13.0+cpu from A, nothing else from A, and every == pin of the file.

Wheels: by default the real ones, fetched once with this machine's normal pip settings (`pip download`, torch from
the local wheel its find-links point to) into build/check_requirements/wheels. With --stubs, wheels are rebuilt
from the distributions installed in this Python (each one's own METADATA and WHEEL tags, no code): a resolver sees
exactly what the real wheels would show it, in a second, without the network (what tests/test_requirements.py uses).

--compare also runs the alternatives weighed in docs/DEPLOY.md: --extra-index-url, a plain torch==2.13.0 and a
direct wheel URL. --here times `pip install --dry-run -r requirements.txt` in a fresh venv with this machine's pip
settings as they are (PyPI and the local wheel; PyTorch's index unreachable).

  python scripts/check_requirements.py [--install] [--compare] [--stubs] [--here] [--requirements FILE]
"""

from __future__ import annotations

import argparse
import email.parser
import functools
import hashlib
import html
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTORCH_CPU = "https://download.pytorch.org/whl/cpu"
TORCH = "2.13.0+cpu"
# What PyTorch's CPU index also hosts, old (uv issues #2840, #7554): one of each stands in for the rest.
OLD_ON_PYTORCH_INDEX = {"numpy": "1.26.4", "pillow": "10.2.0", "jinja2": "3.1.4"}
NVIDIA = ("nvidia-cudnn-cu13", "nvidia-cublas-cu13", "nvidia-nccl-cu13")  # stand-ins for the CUDA build's ~15
ALTERNATIVES = {
    "extra-index-url": f"--extra-index-url {PYTORCH_CPU}\ntorch=={TORCH}",
    "plain torch==2.13.0": "torch==2.13.0",
    "direct wheel URL": f"torch @ {PYTORCH_CPU}/torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl",
}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(functools.partial(f.read, 1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def headers(metadata: str) -> email.message.Message:
    return email.parser.Parser().parsestr(metadata, headersonly=True)


def pins(requirements: str) -> dict[str, str]:
    """The file's `name==version` lines (a direct URL's name maps to '@')."""
    out = {}
    for line in requirements.splitlines():
        line = line.split(" #")[0].strip()
        if m := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line):
            out[norm(m[1])] = m[2]
        elif m := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*@", line):
            out[norm(m[1])] = "@"
    return out


# ---------------------------------------------------------------------------------------------------- wheels


@dataclass
class Wheel:
    path: Path
    metadata: bytes

    @property
    def project(self) -> str:
        return norm(headers(self.metadata.decode()).get("Name"))

    @property
    def version(self) -> str:
        return headers(self.metadata.decode()).get("Version")


def read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if re.match(r"^[^/]+\.dist-info/METADATA$", n))
        return Wheel(path, z.read(name))


def wheel_name(name: str, version: str, tags: list[str]) -> str:
    """A wheel's file name from its tags (compressed tag set: each part's distinct values joined with dots)."""
    parts = [[], [], []]
    for tag in tags:
        for i, value in enumerate(tag.split("-")):
            if value not in parts[i]:
                parts[i].append(value)
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-{'-'.join('.'.join(p) for p in parts)}.whl"


def write_stub(dest: Path, metadata: str, tags: list[str]) -> Wheel:
    """A wheel with only its .dist-info (METADATA, WHEEL, RECORD): what a resolver reads, no code."""
    h = headers(metadata)
    name, version = h["Name"], h["Version"]
    info = f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    wheel = "Wheel-Version: 1.0\nGenerator: check_requirements (stub)\nRoot-Is-Purelib: true\n"
    wheel += "".join(f"Tag: {t}\n" for t in tags)
    path = dest / wheel_name(name, version, tags)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{info}/METADATA", metadata)
        z.writestr(f"{info}/WHEEL", wheel)
        z.writestr(f"{info}/RECORD", f"{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n")
    return Wheel(path, metadata.encode())


def cuda_torch_stub(cpu: Wheel, dest: Path) -> list[Wheel]:
    """PyPI's plain torch 2.13.0 as a resolver sees it: the +cpu wheel's metadata, no local version, nvidia deps."""
    text = cpu.metadata.decode()
    head, _, body = text.partition("\n\n")
    head = re.sub(r"^Version: .*$", "Version: 2.13.0", head, flags=re.M)
    head += "".join(f'\nRequires-Dist: {n}==13.0.0; platform_system == "Linux"' for n in NVIDIA)
    tags = re.match(r"^[^-]+-[^-]+-(.+)\.whl$", cpu.path.name)[1].split("-")
    py, abi, plat = (part.split(".") for part in tags)
    tags = [f"{a}-{b}-{c}" for a in py for b in abi for c in plat]
    out = [write_stub(dest, head + "\n\n" + body, tags)]
    for n in NVIDIA:
        out.append(write_stub(dest, f"Metadata-Version: 2.1\nName: {n}\nVersion: 13.0.0\n", ["py3-none-any"]))
    return out


def installed_tags(dist: importlib.metadata.Distribution) -> list[str]:
    wheel = dist.read_text("WHEEL") or ""
    return re.findall(r"^Tag:\s*(\S+)", wheel, flags=re.M) or ["py3-none-any"]


def stub_wheelhouse(dest: Path) -> tuple[list[Wheel], list[Wheel]]:
    """Wheels for A and B rebuilt from this Python's installed distributions (see the module's doc)."""
    dest.mkdir(parents=True, exist_ok=True)
    seen: dict[str, Wheel] = {}
    for dist in importlib.metadata.distributions():
        metadata = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
        if not metadata or not dist.read_text("WHEEL"):
            continue  # an egg-info or editable project (this repository's own): no wheel of it on any index
        name = norm(headers(metadata)["Name"])
        if name not in seen:
            seen[name] = write_stub(dest, metadata, installed_tags(dist))
    torch = seen.get("torch")
    if torch is None or torch.version != TORCH:
        raise LookupError(f"this Python has torch {torch and torch.version} installed, not {TORCH}")
    old = []
    for name, version in OLD_ON_PYTORCH_INDEX.items():
        if name not in seen:
            raise LookupError(f"{name} is not installed in this Python")
        tags = installed_tags(importlib.metadata.distribution(name))
        old.append(write_stub(dest, f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", tags))
    others = [w for n, w in seen.items() if n != "torch"]
    return [torch, *old], [*others, *old, *cuda_torch_stub(torch, dest)]


def real_wheelhouse(dest: Path, requirements: str) -> tuple[list[Wheel], list[Wheel]]:
    """The real wheels, fetched with this machine's normal pip settings (torch: the local wheel its find-links give)."""
    names = [line for line in requirements.splitlines() if line.strip() and not line.lstrip().startswith(("#", "-"))]
    names = [f"torch=={TORCH}" if norm(re.split(r"[=<>@ ;\[]", n)[0]) == "torch" else n for n in names]
    stamp = dest / "requirements.lock-stamp"
    wanted = "\n".join(names + [f"{k}=={v}" for k, v in OLD_ON_PYTORCH_INDEX.items()])
    if not (stamp.exists() and stamp.read_text() == wanted):
        shutil.rmtree(dest, ignore_errors=True)
        (dest / "old").mkdir(parents=True)
        listed = dest / "requirements.txt"
        listed.write_text("\n".join(names) + "\n")
        print(f"fetching the real wheels into {dest} (pip download, this machine's pip settings)", flush=True)
        run([sys.executable, "-m", "pip", "download", "-q", "-d", str(dest), "-r", str(listed)], check=True)
        old = [f"{k}=={v}" for k, v in OLD_ON_PYTORCH_INDEX.items()]
        run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
             "-d", str(dest / "old"), *old], check=True)
        stamp.write_text(wanted)
    wheels = [read_wheel(p) for p in sorted(dest.glob("*.whl")) if ".stub." not in p.name]
    old = [read_wheel(p) for p in sorted((dest / "old").glob("*.whl"))]
    torch = [w for w in wheels if w.project == "torch"]
    if [w.version for w in torch] != [TORCH]:
        raise LookupError(f"pip download gave torch {[w.version for w in torch]}, not {TORCH}")
    stubs = dest / "stubs"
    shutil.rmtree(stubs, ignore_errors=True)
    stubs.mkdir()
    others = [w for w in wheels if w.project != "torch"]
    return [torch[0], *old], [*others, *old, *cuda_torch_stub(torch[0], stubs)]


# ---------------------------------------------------------------------------------------------------- indexes


def write_index(root: Path, prefix: str, wheels: list[Wheel]) -> None:
    """A PEP 503 index at root/prefix with PEP 658 metadata files and absolute-path links, as PyTorch's and PyPI's."""
    base = root / prefix.strip("/")
    base.mkdir(parents=True, exist_ok=True)
    by_project: dict[str, list[Wheel]] = {}
    for w in wheels:
        by_project.setdefault(w.project, []).append(w)
    for w in wheels:
        target = base / w.path.name
        if not target.exists():
            try:
                os.link(w.path, target)
            except OSError:
                target.symlink_to(w.path.resolve())
        (base / f"{w.path.name}.metadata").write_bytes(w.metadata)
    links = []
    for project, ws in sorted(by_project.items()):
        links.append(f'<a href="{project}/">{project}</a><br/>')
        rows = []
        for w in ws:
            href = f"{prefix}/{urllib.parse.quote(w.path.name)}#sha256={file_sha256(w.path)}"
            meta = f"sha256={sha256(w.metadata)}"
            rp = headers(w.metadata.decode()).get("Requires-Python")
            rp_attr = f' data-requires-python="{html.escape(rp)}"' if rp else ""
            rows.append(f'<a href="{href}"{rp_attr} data-dist-info-metadata="{meta}" data-core-metadata="{meta}">'
                        f"{html.escape(w.path.name)}</a><br/>")
        (base / project).mkdir(exist_ok=True)
        (base / project / "index.html").write_text(page(rows))
    (base / "index.html").write_text(page(links))


def page(rows: list[str]) -> str:
    return "<!DOCTYPE html><html><body>\n" + "\n".join(rows) + "\n</body></html>\n"


class Site:
    """One index served on 127.0.0.1 from a folder, each request's path kept (what a tool asked for)."""

    def __init__(self, root: Path):
        self.log: list[str] = []
        site = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, directory=str(root), **k)

            def log_request(self, code="-", size="-"):  # keep each request's status and path
                site.log.append(f"{int(code)} {urllib.parse.unquote(self.path.split('?')[0])}")

            def log_message(self, fmt, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take_log(self) -> list[str]:
        out, self.log[:] = list(self.log), []
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------------- tools


def run(cmd, check=False, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], text=True, capture_output=not check, check=check, **kw)


def clean_env(tmp: Path) -> dict[str, str]:
    """This machine's pip and uv settings switched off: no config files, no PIP_*/UV_* variables, own caches."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX")}
    env.update(PIP_CONFIG_FILE=os.devnull, UV_PYTHON_DOWNLOADS="never", PYTHONDONTWRITEBYTECODE="1")
    return env


def uv_bin() -> str | None:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except Exception:  # noqa: BLE001 - not installed, or the package without its binary
        return shutil.which("uv")


@dataclass
class Outcome:
    tool: str
    ok: bool  # the tool resolved (exit status 0)
    seconds: float
    versions: dict[str, str] = field(default_factory=dict)
    from_a: list[str] = field(default_factory=list)  # files (wheels or their .metadata) the tool took from A
    asked_a: list[str] = field(default_factory=list)  # project pages it asked A for
    output: str = ""

    def verdict(self, expected: dict[str, str]) -> list[str]:
        """What is wrong against the file's pins and 'torch+cpu from A, nothing else from A'."""
        if not self.ok:
            return ["did not resolve"]
        wrong = [f"{n} {self.versions.get(n)} (wanted {v})" for n, v in expected.items()
                 if v != "@" and self.versions.get(n) != v]
        if self.versions.get("torch") != TORCH:
            wrong.append(f"torch {self.versions.get('torch')} (wanted {TORCH})")
        if not any("torch-" in f for f in self.from_a):
            wrong.append("torch not taken from A")
        wrong += [f"{f} taken from A" for f in self.from_a if not Path(f).name.startswith("torch-")]
        if any(n.startswith("nvidia-") for n in self.versions):
            wrong.append("nvidia-* packages (the CUDA build)")
        return sorted(set(wrong))

    def line(self) -> str:
        head = f"{self.tool}: {'resolved' if self.ok else 'FAILED'} in {self.seconds:.1f} s"
        if not self.ok:
            return head + "\n    " + "\n    ".join(self.output.strip().splitlines()[-6:])
        v = self.versions
        nv = sum(n.startswith("nvidia-") for n in v)
        return (f"{head}: {len(v)} packages; torch {v.get('torch')}, numpy {v.get('numpy')}, pillow {v.get('pillow')}, "
                f"jinja2 {v.get('jinja2')}{f', {nv} nvidia-*' if nv else ''}; files from A: "
                f"{', '.join(sorted({Path(f).name for f in self.from_a})) or 'nothing'}; A served pages: "
                f"{', '.join(f'{n} x{self.asked_a.count(n)}' for n in sorted(set(self.asked_a))) or 'nothing'}")


class Checker:
    def __init__(self, tmp: Path, a: Site, b: Site, uv: str | None):
        self.tmp, self.a, self.b, self.uv = tmp, a, b, uv
        self.env = clean_env(tmp)
        self.n = 0

    def loopback(self, requirements: str) -> Path:
        self.n += 1
        path = self.tmp / f"requirements-{self.n}.txt"
        path.write_text(requirements.replace(PYTORCH_CPU, f"{self.a.url}/whl/cpu"))
        return path

    def venv(self, name: str) -> Path:
        path = self.tmp / name
        shutil.rmtree(path, ignore_errors=True)
        run([sys.executable, "-m", "venv", path], check=True, env=self.env)
        return path / "bin" / "python"

    def _a_log(self, outcome: Outcome) -> Outcome:
        for entry in self.a.take_log():
            status, path = entry.split(" ", 1)
            if path.endswith((".whl", ".metadata")) and status.startswith("2"):
                outcome.from_a.append(path)
            elif status.startswith("2") and path.rstrip("/").count("/") == 3:  # /whl/cpu/<project>/
                outcome.asked_a.append(path.rstrip("/").rsplit("/", 1)[1])
        return outcome

    def pip(self, requirements: str, install: bool = False) -> Outcome:
        req = self.loopback(requirements)
        python = self.venv(f"pip-venv-{self.n}")
        version = run([python, "-m", "pip", "--version"], env=self.env).stdout.split()[1]
        report = self.tmp / f"pip-report-{self.n}.json"
        cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", "--index-url", f"{self.b.url}/simple",
               "--cache-dir", self.tmp / f"pip-cache-{self.n}", "-r", req]
        cmd += ["--report", report] if install else ["--dry-run", "--report", report]
        self.a.take_log()
        t = time.perf_counter()
        p = run(cmd, env=self.env)
        out = Outcome(f"pip {version} {'install' if install else 'dry run'}", p.returncode == 0,
                      time.perf_counter() - t, output=p.stdout + p.stderr)
        if out.ok:
            for item in json.loads(report.read_text())["install"]:
                out.versions[norm(item["metadata"]["name"])] = item["metadata"]["version"]
                if item["download_info"]["url"].startswith(self.a.url):
                    out.from_a.append(urllib.parse.unquote(urllib.parse.urlparse(item["download_info"]["url"]).path))
        self._a_log(out)
        out.from_a = sorted(set(out.from_a))
        if install and out.ok:
            out.output = imports(python, self.env)
        return out

    def uv_run(self, requirements: str, install: bool = False) -> Outcome:
        req = self.loopback(requirements)
        version = run([self.uv, "--version"], env=self.env).stdout.split()[1]
        venv = self.tmp / f"uv-venv-{self.n}"
        run([self.uv, "venv", "--no-config", "-q", "--python", sys.executable, venv], check=True, env=self.env)
        python = venv / "bin" / "python"
        cmd = [self.uv, "pip", "install", "--no-config", "--python", python, "--index-url", f"{self.b.url}/simple",
               "--cache-dir", self.tmp / f"uv-cache-{self.n}", "-r", req]
        if not install:
            cmd.append("--dry-run")
        self.a.take_log()
        t = time.perf_counter()
        p = run(cmd, env=self.env)
        out = Outcome(f"uv {version} {'pip install' if install else 'pip install --dry-run'}", p.returncode == 0,
                      time.perf_counter() - t, output=p.stdout + p.stderr)
        out.versions = resolved(p.stderr, r"^ \+ ")
        self._a_log(out)
        if install and out.ok:
            out.output = imports(python, self.env)
        return out

    def uv_compile(self, requirements: str) -> tuple[Outcome, str]:
        req = self.loopback(requirements)
        cmd = [self.uv, "pip", "compile", "--no-config", "--no-header", "--emit-index-annotation", "--python",
               sys.executable, "--index-url", f"{self.b.url}/simple", "--cache-dir", self.tmp / f"uv-cache-{self.n}",
               req]
        self.a.take_log()
        t = time.perf_counter()
        p = run(cmd, env=self.env)
        out = Outcome("uv pip compile", p.returncode == 0, time.perf_counter() - t, output=p.stdout + p.stderr)
        out.versions = resolved(p.stdout, "^")
        self._a_log(out)
        return out, p.stdout


def resolved(text: str, prefix: str) -> dict[str, str]:
    """name -> version from uv's `name==version` lines, or from the wheel's file name on a `name @ URL` line."""
    out = {}
    for name, ver, url in re.findall(prefix + r"([A-Za-z0-9._-]+)(?:==(\S+)| @ (\S+))", text, flags=re.M):
        if url:
            ver = urllib.parse.unquote(url.rsplit("/", 1)[-1]).split("-")[1]
        out[norm(name)] = ver
    return out


def imports(python: Path, env: dict[str, str]) -> str:
    code = ("import time; t = time.perf_counter(); import torch, numpy, streamlit; "
            "print(f'imports: torch {torch.__version__} (cuda {torch.version.cuda}), numpy {numpy.__version__}, "
            "streamlit {streamlit.__version__} in {time.perf_counter() - t:.1f} s')")
    p = run([python, "-c", code], env=env)
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=env).stdout.strip()
    size = run(["du", "-sm", site]).stdout.split()[0] if site else "?"
    nvidia = sorted(p.name for p in Path(site).glob("nvidia*")) if site else []
    return (p.stdout.strip() or p.stderr.strip()[-300:]) + f"; site-packages {size} MB; nvidia folders: {nvidia}"


# ---------------------------------------------------------------------------------------------------- main


def with_alternative(requirements: str, torch_lines: str) -> str:
    """The file with its torch source and torch line replaced by another way of asking for torch."""
    keep = [line for line in requirements.splitlines()
            if "download.pytorch.org" not in line and norm(re.split(r"[=<>@ ;\[]", line.strip() + " ")[0]) != "torch"]
    return torch_lines + "\n" + "\n".join(keep) + "\n"


def check_file(checker: Checker, requirements: str, install: bool, show_compile: bool = False) -> list[Outcome]:
    outcomes = [checker.pip(requirements)]
    if checker.uv:
        compiled, text = checker.uv_compile(requirements)
        outcomes += [compiled, checker.uv_run(requirements)]
        if show_compile and compiled.ok:
            text = text.replace(checker.a.url, "A").replace(checker.b.url, "B")
            text = re.sub(r"-r \S+", "-r requirements.txt", text)
            blocks = re.split(r"\n(?=\S)", text.strip())
            shown = [b for b in blocks if norm(re.split(r"[=@ ]", b)[0]) in ("torch", "numpy", "pillow", "jinja2")]
            print("  uv pip compile printed, of its 44 entries (A and B: the loopback indexes):")
            print("    " + "\n    ".join("\n".join(shown).splitlines()))
    if install:
        if checker.uv:
            outcomes.append(checker.uv_run(requirements, install=True))
        outcomes.append(checker.pip(requirements, install=True))
    return outcomes


def here(requirements: Path) -> None:
    """`pip install --dry-run -r requirements.txt` in a fresh venv with this machine's pip settings, timed."""
    with tempfile.TemporaryDirectory() as tmp:
        run([sys.executable, "-m", "venv", f"{tmp}/v"], check=True)
        retries = os.environ.get("PIP_RETRIES", "pip's default (5)")
        t = time.perf_counter()
        p = run([f"{tmp}/v/bin/pip", "install", "--dry-run", "-r", requirements])
        lines = [line for line in (p.stdout + p.stderr).splitlines() if "Would install" in line or "ERROR" in line]
        torch = re.findall(r"\btorch-(\S+)", " ".join(lines))
        print(f"here (this machine's pip settings, PIP_RETRIES={retries}): exit {p.returncode} in "
              f"{time.perf_counter() - t:.1f} s; torch {torch or '?'}; {(lines or ['?'])[-1][:200]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    ap.add_argument("--stubs", action="store_true", help="wheels rebuilt from this Python's installed metadata")
    ap.add_argument("--wheels", type=Path, default=ROOT / "build" / "check_requirements" / "wheels")
    ap.add_argument("--install", action="store_true", help="also real installs (uv and pip) and an import check")
    ap.add_argument("--compare", action="store_true", help="also the alternatives (extra index, plain, direct URL)")
    ap.add_argument("--here", action="store_true", help="also time the file with this machine's own pip settings")
    args = ap.parse_args(argv)
    requirements = args.requirements.read_text()
    uv = uv_bin()
    if uv is None:
        print("uv is not installed (it is in requirements-dev.txt): only pip is checked")
    with tempfile.TemporaryDirectory(prefix="check-req-") as tmp_name:
        tmp = Path(tmp_name)
        t = time.perf_counter()
        a_wheels, b_wheels = (stub_wheelhouse(tmp / "stubs") if args.stubs
                              else real_wheelhouse(args.wheels.resolve(), requirements))
        write_index(tmp / "a", "/whl/cpu", a_wheels)
        write_index(tmp / "b", "/simple", b_wheels)
        a, b = Site(tmp / "a"), Site(tmp / "b")
        print(f"indexes ({'stub' if args.stubs else 'real'} wheels, {time.perf_counter() - t:.1f} s): "
              f"A = {a.url}/whl/cpu ({', '.join(sorted(f'{w.project} {w.version}' for w in a_wheels))}); "
              f"B = {b.url}/simple ({len(b_wheels)} wheels, PyPI's stand-in)")
        checker = Checker(tmp, a, b, uv)
        expected = pins(requirements)
        print(f"== {args.requirements.name} as it is")
        failures = []
        for o in check_file(checker, requirements, args.install, show_compile=True):
            wrong = o.verdict(expected)
            print(("  ok    " if not wrong else "  WRONG ") + o.line()
                  + (f"\n        {'; '.join(wrong)}" if wrong else ""))
            if "install" in o.tool and o.ok and "--dry-run" not in o.tool and "dry run" not in o.tool:
                print(f"        {o.output}")
            failures += [f"{o.tool}: {w}" for w in wrong]
        if args.compare:
            for label, lines in ALTERNATIVES.items():
                print(f"== alternative: {label}: {' / '.join(lines.splitlines())}")
                for o in check_file(checker, with_alternative(requirements, lines), install=False):
                    wrong = o.verdict(expected | pins(lines))
                    print(("  ok    " if not wrong else "  WRONG ") + o.line()
                          + (f"\n        {'; '.join(wrong)}" if wrong else ""))
        a.close()
        b.close()
    if args.here:
        here(args.requirements)
    print("PASS: pip and uv both give torch 2.13.0+cpu from A and every pin" if not failures
          else "FAIL:\n  " + "\n  ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
