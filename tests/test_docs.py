"""The docs stay true: links resolve, guide snippets print what the guides say, the
architecture map names files that exist."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
GUIDES = sorted((ROOT / "docs" / "guide").glob("*.md"))

LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def _links(page: Path):
    text = FENCE.sub("", page.read_text())  # links inside code are not links
    for target in LINK.findall(text):
        if not re.match(r"[a-z]+:", target):
            yield target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _anchors(file)):
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def _snippets():
    for guide in GUIDES:
        blocks = FENCE.findall(guide.read_text())
        for (lang, code), (next_lang, output) in itertools.pairwise(blocks):
            if lang == "python" and "trio.run(" in code and next_lang == "text":
                yield pytest.param(code, output, id=guide.stem)


def test_every_guide_has_a_runnable_snippet():
    assert {p.id for p in _snippets()} >= {g.stem for g in GUIDES}


@pytest.mark.parametrize(("code", "output"), list(_snippets()))
def test_guide_snippet_prints_what_the_guide_shows(code, output, tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )  # the timeout is a hang guard only
    assert done.returncode == 0, done.stderr
    assert done.stdout == output


def test_architecture_map_names_existing_files():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`(trio_pipe/[\w/]+\.(?:py|proto))`", text))
    assert named, "the map names no files"
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names missing files: {missing}"


def test_the_benchmark_table_is_the_one_its_published_data_gives():
    # docs/benchmarks.json is the pooled document behind docs/benchmarks.md's table and
    # chart: a new run is checked against it with trio_pipe.cli.bench_compare.
    import json

    from trio_pipe.cli.bench import markdown, table_rows

    document = json.loads((ROOT / "docs" / "benchmarks.json").read_text(encoding="utf-8"))
    generated = markdown(table_rows(document), quick=document["_run"]["quick"])
    expected = [line for line in generated.splitlines() if line.startswith("|")]
    published = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8").splitlines()
    start = published.index(expected[0])
    assert published[start : start + len(expected)] == expected
