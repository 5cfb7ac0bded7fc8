"""The built site: a strict build, links and anchors that resolve, nothing from third-party hosts.

The site is built once per test session (``built_site``), into a temporary directory.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup
from material.plugins.search.plugin import Parser as SearchParser
from mkdocs.config import load_config

from tests.harness import DOCS, ROOT
from tests.harness.hooks import load_hook
from tests.harness.parse import fence_lines, pages

# Attributes through which a page loads something (as opposed to linking to it).
RESOURCE_ATTRIBUTES = {
    "script": ["src"],
    "img": ["src", "srcset"],
    "source": ["src", "srcset"],
    "iframe": ["src"],
    "video": ["src", "poster"],
    "audio": ["src"],
    "embed": ["src"],
    "object": ["data"],
}
SITE_PATH = urlsplit(yaml.safe_load(
    "\n".join(l for l in (ROOT / "mkdocs.yml").read_text().splitlines() if l.startswith("site_url:"))
)["site_url"]).path
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)""")
_CSS_IMPORT = re.compile(r"""@import\s+['"]([^'"]+)""")


def _html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "assets" not in p.relative_to(site).parts)


@cache
def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _is_third_party(url: str) -> bool:
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme in {"http", "https"}


def _source_line(page_html: Path, site: Path, needle: str) -> str:
    """The Markdown page (and line, when found) that produced a built page."""
    rel = page_html.relative_to(site)
    for candidate in (DOCS / rel.with_suffix(".md"), DOCS / rel.with_suffix(".ipynb")):
        if candidate.is_file():
            for number, line in enumerate(candidate.read_text(encoding="utf-8").splitlines(), 1):
                if needle and needle in line:
                    return f"{candidate.relative_to(ROOT)}:{number}"
            return str(candidate.relative_to(ROOT))
    return str(page_html.relative_to(site))


def test_internal_links_and_anchors_resolve(built_site):
    broken = []
    for page in _html_pages(built_site):
        soup = _soup(page)
        for anchor in soup.select("a[href]"):
            href = anchor["href"]
            if _is_third_party(href) or href.startswith(("mailto:", "javascript:", "data:")):
                continue
            path, fragment = urldefrag(href)
            if path.startswith("/"):  # absolute links (the 404 page) start at site_url's path
                target = built_site / unquote(path).removeprefix(SITE_PATH).lstrip("/")
            else:
                target = page if not path else (page.parent / unquote(path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{_source_line(page, built_site, path)}: link to {href!r}: no such file in the built site")
                continue
            if fragment and target.suffix == ".html" and not _soup(target).find(id=unquote(fragment)):
                broken.append(f"{_source_line(page, built_site, '#' + fragment)}: link to {href!r}: no element with id {fragment!r}")
    assert not broken, "broken internal links:\n" + "\n".join(sorted(set(broken)))


def test_every_page_shows_the_fences_the_harness_read(built_site):
    """The harness reads pages with markdown-it-py, the site with Python-Markdown: both must see
    the same fences, or a block could be shown and never run."""
    for source in pages():
        html = (built_site / source.relative_to(DOCS)).with_suffix(".html").read_text(encoding="utf-8")
        shown = html[html.index("<article"):html.rindex("</article>")].count("<pre")
        assert shown == len(fence_lines(source)), f"{source.relative_to(ROOT)}: the site shows {shown} code blocks, the harness read {len(fence_lines(source))}"


def test_nothing_loads_from_third_party_hosts(built_site):
    offenders = []
    for page in _html_pages(built_site):
        soup = _soup(page)
        for tag, attributes in RESOURCE_ATTRIBUTES.items():
            for element in soup.find_all(tag):
                for attribute in attributes:
                    for url in re.split(r"[\s,]+", element.get(attribute, "")):
                        if url and _is_third_party(url):
                            offenders.append(f"{page.relative_to(built_site)}: <{tag} {attribute}={url!r}>")
        for link in soup.find_all("link", href=True):
            if set(link.get("rel", [])) & {"stylesheet", "preload", "modulepreload", "icon", "preconnect", "dns-prefetch", "manifest"}:
                if _is_third_party(link["href"]):
                    offenders.append(f"{page.relative_to(built_site)}: <link rel={link['rel']} href={link['href']!r}>")
        for style in soup.find_all("style"):
            offenders += [f"{page.relative_to(built_site)}: inline CSS url {u!r}" for u in _CSS_URL.findall(style.text) + _CSS_IMPORT.findall(style.text) if _is_third_party(u)]
    for css in built_site.rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{css.relative_to(built_site)}: url {u!r}" for u in _CSS_URL.findall(text) + _CSS_IMPORT.findall(text) if _is_third_party(u)]
    assert not offenders, "resources from third-party hosts:\n" + "\n".join(offenders)


def test_every_page_has_its_own_meta_description(built_site):
    """Markdown pages describe themselves in front matter; the built page carries that text."""
    problems = []
    for source in sorted(DOCS.rglob("*.md")):
        description = " ".join(str(_front_matter(source).get("description", "")).split())
        html = built_site / source.relative_to(DOCS).with_suffix(".html")
        shown = (_soup(html).find("meta", attrs={"name": "description"}) or {}).get("content", "")
        if not description:
            problems.append(f"{source.relative_to(ROOT)}:1: no `description:` in the front matter")
        elif " ".join(shown.split()) != description:
            problems.append(f"{html.relative_to(built_site)}: meta description is not the page's own")
    assert not problems, "\n".join(problems)


def test_sitemap_and_404_exist(built_site):
    assert (built_site / "404.html").is_file()
    sitemap = (built_site / "sitemap.xml").read_text(encoding="utf-8")
    assert sitemap.count("<loc>") >= len(list(DOCS.glob("modules/*.md"))) + 1


def test_mermaid_loads_only_where_there_is_a_diagram(built_site):
    for page in _html_pages(built_site):
        soup = _soup(page)
        has_diagram = bool(soup.select("pre.mermaid"))
        loads_mermaid = any("mermaid" in s.get("src", "") for s in soup.find_all("script"))
        assert has_diagram == loads_mermaid, f"{page.relative_to(built_site)}: diagram={has_diagram} but mermaid script={loads_mermaid}"


def test_mermaid_scripts_hook_adds_what_mermaid2_adds():
    """overrides/hooks/mermaid_scripts.py stands in for mermaid2's on_post_page: same scripts, same
    pages; written for the installed mermaid2."""
    hook = load_hook("mermaid_scripts")
    installed = {name: version(name) for name in hook.WRITTEN_FOR}
    assert installed == hook.WRITTEN_FOR, f"mermaid_scripts.py was written for {hook.WRITTEN_FOR}; installed: {installed}"
    config = load_config(str(ROOT / "mkdocs.yml"))
    config = config.plugins.on_config(config)  # as a build starts: mermaid2 reads its settings, the hook swaps
    mermaid2 = config.plugins["mermaid2"]
    assert mermaid2.on_post_page not in config.plugins.events["post_page"], "the hook did not replace mermaid2's handler"
    scripts = lambda html: re.findall(r"<script.*?</script>", html, re.S)  # noqa: E731
    page = SimpleNamespace(url="modules/module.html", title="A module")
    with_diagram = '<html><body><p>x</p><pre  class="mermaid"><code>flowchart LR\n  a --> b\n</code></pre></body></html>'
    without = "<html><body><p>mermaid, the word, is not a diagram</p><pre><code>x</code></pre></body></html>"
    for html in (with_diagram, without):
        theirs = type(mermaid2).on_post_page(mermaid2, html, config=config, page=page)
        assert scripts(hook.append_mermaid_scripts(mermaid2, html, page=page)) == scripts(theirs)
    assert len(scripts(hook.append_mermaid_scripts(mermaid2, with_diagram, page=page))) == 2


def test_search_hook_indexes_what_material_indexes(built_site):
    """overrides/hooks/search_code_text.py: its two page_context handlers surround Material's
    indexing, and Material's parser finds the same sections, titles and text in every built page
    with and without the tags inside code blocks."""
    config = load_config(str(ROOT / "mkdocs.yml"))
    hook = config.plugins["overrides/hooks/search_code_text.py"]
    handlers = config.plugins.events["page_context"]
    take_out, put_back = hook.on_page_context.methods
    material = config.plugins["material/search"].on_page_context
    assert handlers.index(take_out) < handlers.index(material) < handlers.index(put_back), handlers

    def sections(html: str) -> list:
        parser = SearchParser()
        parser.feed(html)
        parser.close()
        # Joined as Material joins them for the index entry.
        return [(section.id, "".join(section.title), "".join(section.text)) for section in parser.data]

    removed = 0
    for page in _html_pages(built_site):
        html = page.read_text(encoding="utf-8")
        content = html[html.index("<article"):html.rindex("</article>")]  # where page.content sits
        lighter = hook.without_code_markup(content)
        removed += len(content) - len(lighter)
        assert sections(lighter) == sections(content), f"{page.relative_to(built_site)}: the search index would change"
    assert removed > 0, "no code block markup was removed: the check compared identical pages"


def test_lab_page_hook_was_written_for_the_installed_versions():
    """overrides/hooks/notebook_pages.py cuts what mkdocs-jupyter and nbconvert write: on another
    version, check the cut (the build fails if the comments it cuts at are gone) and run
    test_browser.py's pixel comparison of the lab pages, then update WRITTEN_FOR."""
    written_for = load_hook("notebook_pages").WRITTEN_FOR
    installed = {name: version(name) for name in written_for}
    assert installed == written_for, f"notebook_pages.py was written for {written_for}; installed: {installed}"


def test_lab_page_hook_reads_attribute_values_as_values_not_classes():
    """nbconvert styles stderr outputs with [data-mime-type="application/vnd.jupyter.stderr"]: the
    dots in the value are not classes, so the rule stays on a page with a stderr output."""
    rule = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"] { background: red; }'
    unused = ".jp-Dialog { color: blue; }"
    html = f'<style>{rule}\n{unused}</style><div class="jp-OutputArea-output" data-mime-type="application/vnd.jupyter.stderr">'
    css = load_hook("notebook_pages").without_unused_css(html)
    assert "background: red" in css and "jp-Dialog" not in css, css


def _front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path.relative_to(ROOT)}:1: no front matter"
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_module_header_shows_pinned_versions(built_site):
    module_header = load_hook("module_header")
    pins = module_header.read_pins(ROOT / "requirements.txt")
    for source in sorted(DOCS.glob("modules/*.md")):
        meta = _front_matter(source)
        html = _soup(built_site / source.relative_to(DOCS).with_suffix(".html"))
        header = html.select_one("dl.module-header")
        assert header is not None, f"{source.relative_to(ROOT)}: no module header in the built page"
        shown = {code.text.split(" ")[0]: code.text.split(" ")[1] for code in header.select(".module-header__versions code")}
        for tool in meta["tools"]:
            pinned = pins[module_header._normalise(tool)]
            assert shown.get(tool) == pinned, f"{source.relative_to(ROOT)}: header shows {tool} {shown.get(tool)}, requirements.txt pins {pinned}"


def test_overview_module_table_matches_module_front_matter():
    overview = (DOCS / "index.md").read_text(encoding="utf-8")
    for source in sorted(DOCS.glob("modules/*.md")):
        meta = _front_matter(source)
        row = next((line for line in overview.splitlines() if line.startswith(f"| {meta['module']} |")), None)
        assert row is not None, f"docs/index.md: no row for module {meta['module']}"
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert source.name in cells[1], f"docs/index.md: row {meta['module']} does not link to {source.name}"
        # The time is computed at build (overrides/hooks/durations.py): the table asks for it.
        assert cells[2] == f"`[{meta['complexity']}]`" and cells[3] == f"{{{{ time:{meta['module']} }}}}", (
            f"docs/index.md: row {meta['module']} says {cells[2]} {cells[3]}; write `[{meta['complexity']}]` and {{{{ time:{meta['module']} }}}}"
        )
