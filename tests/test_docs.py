"""The README and docs/ pages: every relative link resolves (a file, and a heading where it names
one), and the README stays a front page that leads to every docs page."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower-cased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def broken_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    bad = []
    for match in LINK.finditer(text):
        target = match[1] or match[2]
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto: are not checked offline
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            bad.append(f"{page.relative_to(REPO)}: {target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            bad.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    return bad


def test_every_relative_link_resolves():
    bad = [b for page in pages() for b in broken_links(page)]
    assert not bad, "\n".join(bad)


def test_the_link_check_can_fail(tmp_path):
    (tmp_path / "there.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md) [ok](there.md#a-heading) [gone](missing.md) [bad](there.md#nope) "
                    "[web](https://example.org) ![img](pic.png)\n```\n[in code](nowhere.md)\n```\n")
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        assert broken_links(page) == ["page.md: missing.md (no such file)", "page.md: there.md#nope (no such heading)",
                                      "page.md: pic.png (no such file)"]
    finally:
        REPO = saved


def test_the_readme_is_a_front_page_that_leads_to_every_docs_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    assert "make run" in readme and "make test" in readme
    linked = {(REPO / (m[1] or m[2])).resolve() for m in LINK.finditer(readme)}
    docs = {p.resolve() for p in (REPO / "docs").glob("*.md")}
    assert docs <= linked, sorted(str(p.relative_to(REPO)) for p in docs - linked)
