"""The README and docs/: a README a newcomer reads in five minutes, the set-up commands CI and the guide depend on,
and no link or image that points nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
APP_COMMAND = "pip install -r requirements.txt && streamlit run app.py"
TEST_COMMAND = "pip install -r requirements-dev.txt && ruff check . && python -m pytest"
# The docs that hold what moved out of the README: each opens with a one-line title and says what it holds.
MOVED = ("APP.md", "ENGINE.md", "SPEED.md", "TRAINING_HISTORY.md")

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def without_fences(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code (a link in code is not a link)."""
    return re.sub(r"`[^`\n]*`", "", without_fences(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m) for m in re.findall(r"^#+\s+(.*)$", without_fences(path.read_text()), flags=re.M)}


def bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)]


def test_the_readme_reads_in_five_minutes():
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move the detail to docs/"


def test_the_two_set_up_commands_are_in_the_readme_verbatim():
    blocks = bash_blocks(README.read_text())
    assert APP_COMMAND in blocks, blocks
    assert TEST_COMMAND in blocks, blocks


def test_ci_runs_the_readmes_test_command():
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    last = [line for line in ci if line and not line.startswith("#")][-1]
    assert last.replace("pip install -q ", "pip install ") == TEST_COMMAND, last
    assert last.replace("pip install -q ", "pip install ") in bash_blocks(README.read_text())


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_image_points_to_a_file_that_exists(doc: Path):
    broken = []
    for target in LINK.findall(prose(doc.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading with that anchor in {file.name}")
    assert not broken, broken


def test_the_readme_shows_the_screenshots():
    images = [t for t in LINK.findall(prose(README.read_text())) if t.startswith("docs/screenshots/")]
    assert len(images) >= 4, images


@pytest.mark.parametrize("name", MOVED)
def test_each_moved_doc_opens_with_a_title_and_says_what_it_holds(name: str):
    lines = (ROOT / "docs" / name).read_text().splitlines()
    assert lines[0].startswith("# ") and len(lines[0]) > 3, lines[0]
    assert lines[1] == "" and lines[2].startswith("This file holds"), lines[:3]


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_absolute_machine_paths(doc: Path):
    found = re.findall(r"(?<![\w.:/])/(?:work|home|root|tmp|Users|mnt)/\S*", doc.read_text())
    assert not found, f"{found}: use a path relative to the repository (e.g. ../shared/omniglot) or $MAML_DATA_DIR"
