"""Check a built HTML site: every internal link and image resolves, and nothing loads from the network.

Usage: python tools/check_links.py SITE_DIR

* ``href`` / ``src`` to a file of the site: the file exists, and a ``#fragment``
  names an ``id`` on that page;
* ``<script src>``, ``<link href>``, ``<img src>``, ``<iframe src>`` never point
  off the site (the site must work offline); ordinary links to other sites are
  allowed and not fetched.

Prints every problem as ``page: what`` and exits 1 if there is any.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

LOADS = {("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"), ("source", "src"), ("video", "src")}


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value and (name == "id" or tag == "a"):
                self.ids.add(value)
            if name in ("href", "src") and value is not None:
                self.refs.append((tag, name, value))


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def check(site: Path) -> list[str]:
    pages = {p.resolve(): parse(p) for p in site.rglob("*.html")}
    problems = []
    for path, page in pages.items():
        where = path.relative_to(site.resolve())
        for tag, attr, value in page.refs:
            parts = urlsplit(value)
            if parts.scheme in ("data", "mailto", "javascript", "about") or value.startswith("data:"):
                continue
            if parts.scheme or value.startswith("//"):
                if (tag, attr) in LOADS:
                    problems.append(f"{where}: <{tag} {attr}> loads from the network: {value}")
                continue
            target = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{where}: broken link {value}")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{where}: no anchor #{parts.fragment} in {target.relative_to(site.resolve())}")
    return problems


def main(argv: list[str]) -> int:
    site = Path(argv[0])
    if not (site / "index.html").exists():
        print(f"check_links: {site} has no index.html", file=sys.stderr)
        return 1
    problems = check(site)
    for p in problems:
        print(p)
    n = len(list(site.rglob("*.html")))
    print(f"check_links: {n} pages, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
