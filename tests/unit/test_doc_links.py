"""The README and docs/ stand alone in a clone: every Markdown link that is not a web address names
a file of this repository that exists (and a heading that exists, for #anchors), and no text points
outside the repository (``../something`` above the root, or an absolute path on some machine)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.bridgeproc import ROOT

PAGES = sorted([ROOT / "README.md", ROOT / "DEVELOPERS.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
# ../ above the root, or a path on a developer's machine (runtime paths such as /tmp or /etc are fine).
PATH_WORD = re.compile(r"(?<![\w/.])((?:\.\./)+[\w./-]+|/(?:work|home|Users)/[\w./-]+)")


def _prose(page: Path) -> str:
    return CODE_BLOCK.sub("", page.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(_prose(page))}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_link_stays_in_the_repository_and_arrives(page: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(page)):
        if re.match(r"^[a-z]+:", target):   # https://…, mailto: — a public address, not a path
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
        elif not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.relative_to(ROOT)}")
    assert not broken, broken


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_no_text_points_outside_the_repository(page: Path) -> None:
    outside = [word for word in PATH_WORD.findall(page.read_text(encoding="utf-8"))
               if word.startswith("/") or not (page.parent / word).resolve().is_relative_to(ROOT)]
    assert not outside, outside


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """The link patterns find a link to a sibling checkout and a path on the author's machine."""
    text = "see [the seeds](../shared/seeds/) and `/work/shared/reference/esia.md`, [ok](docs/x.md#a-b)"
    assert LINK.findall(text) == ["../shared/seeds/", "docs/x.md#a-b"]
    assert PATH_WORD.findall(text) == ["../shared/seeds/", "/work/shared/reference/esia.md"]
    assert slug("The round: the outbox's `transactions`, a plan") == "the-round-the-outboxs-transactions-a-plan"
