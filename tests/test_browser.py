"""The reader's experience, checked in a real browser (Debian's Chromium, driven by Playwright).

The built site is served from 127.0.0.1 by a small threaded HTTP server. Nothing here
downloads a browser: Playwright drives /usr/bin/chromium. Screenshots of the overview and
every module page (light and dark) go to test-artifacts/screenshots/ for people to look at.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.harness import DOCS, ROOT
from tests.harness.environment import block_environment
from tests.harness.hooks import load_hook

CHROMIUM = Path("/usr/bin/chromium")
# Without these, Chromium's own background connections fail against the closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
NODE_MODULES = ROOT / "node_modules"
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
MODULE_PAGES = sorted(str(p.relative_to(DOCS).with_suffix(".html")) for p in DOCS.glob("modules/*.md"))
LAB_PAGES = sorted(str(p.relative_to(DOCS).with_suffix(".html")) for p in DOCS.glob("labs/*.ipynb"))
READER_PAGES = ["index.html", *MODULE_PAGES, "running-example.html", "glossary.html", "labs/index.html", *LAB_PAGES]
# Files a page's code wrote and the page links to (the harness's `publishes` marker), e.g. Evidently's report.
PUBLISHED_FILES = sorted(str(p.relative_to(DOCS)) for p in DOCS.glob("assets/reports/*.html"))
# HTML + CSS + JS a page transfers when it opens, gzip-compressed as a static host would send
# it. Pages with diagrams load mermaid only when a diagram nears the screen; their budget is
# larger because they are the long module pages (9,000 words with highlighted code).
BUDGET_PLAIN_KB = 120
BUDGET_DIAGRAM_KB = 150
LIGHTHOUSE_RUNS = 3
# Desktop preset, median of three runs: the overview and the two longest module pages.
# The desktop preset does not slow the CPU down, so the performance score measures the host too.
# The long module pages score lower on a slow host: on a 2-core VM like CI's (Lighthouse's
# benchmarkIndex 1060-1180) two runs of this test gave medians of 93 and 96 for 5.1, 89 and 86 for
# 5.4 (single runs 85-98), the overview 100. What costs them is Total Blocking Time: on 5.4 (72 code
# blocks) Material's script forces ~0.8 s of style and layout (mainthread-work-breakdown). Their
# minimum is 80 until that is cut.
LIGHTHOUSE_MINIMUMS = {
    page: {"performance": performance, "accessibility": 95, "best-practices": 95, "seo": 95}
    for page, performance in [
        ("index.html", 95),
        ("modules/module-5.1-mlops-fundamentals.html", 80),
        ("modules/module-5.4-model-serving.html", 80),
    ]
}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)"
)


@pytest.fixture(scope="session")
def site_url(served_site):
    return served_site


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright  # imported here: the module loads without Chromium

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Visit:
    """A page opened in a fresh context, recording every request and console error."""

    def __init__(self, browser, url: str, color_scheme: str = "light", width: int = 1280, html: str | None = None):
        self.context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=color_scheme)
        self.page = self.context.new_page()
        if html is not None:  # served in place of the page at url, with the site's files around it
            self.page.route(url, lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"))
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.responses = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("response", lambda r: self.responses.append(r))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url, wait_until="load")

    def close(self):  # as soon as a test is done with a page; the fixture closes the rest
        if self.context is not None:
            self.context.close()
            self.context = None


@pytest.fixture
def visit(browser):
    opened = []

    def open_page(url, **kwargs):
        opened.append(Visit(browser, url, **kwargs))
        return opened[-1]

    yield open_page
    for v in opened:
        v.close()


def _has_diagram(built_site: Path, page: str) -> bool:
    return 'class="mermaid"' in (built_site / page).read_text(encoding="utf-8")


def rendered_diagrams(page) -> tuple[int, int]:
    """(diagram hosts, hosts whose closed shadow root holds an <svg>), read through the DevTools protocol."""
    session = page.context.new_cdp_session(page)
    document = session.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
    hosts = rendered = 0

    def walk(node, inside_host=False):
        nonlocal hosts, rendered
        classes = dict(zip(node.get("attributes", [])[::2], node.get("attributes", [])[1::2])).get("class", "")
        is_host = "mermaid" in classes.split()
        if is_host:
            hosts += 1
            if any(_contains_svg(root) for root in node.get("shadowRoots", [])):
                rendered += 1
        for child in node.get("children", []) + node.get("shadowRoots", []):
            walk(child, inside_host or is_host)

    walk(document)
    session.detach()
    return hosts, rendered


def _contains_svg(node) -> bool:
    return node.get("nodeName", "").lower() == "svg" or any(_contains_svg(c) for c in node.get("children", []))


def _wait_for_diagrams(page, timeout_s: float = 30) -> tuple[int, int]:
    """Scroll each pending diagram into view (they render lazily) until all are SVG or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.evaluate("() => document.querySelector('pre.mermaid')?.scrollIntoView()")
        hosts, rendered = rendered_diagrams(page)
        if (hosts and hosts == rendered) or time.monotonic() > deadline:
            return hosts, rendered
        page.wait_for_timeout(250)


# --- 2. diagrams ------------------------------------------------------------------


def test_diagrams_render_when_opened_directly(built_site, site_url, visit):
    pages = [p for p in READER_PAGES if _has_diagram(built_site, p)]
    assert pages, "no page has a diagram"
    for page in pages:
        v = visit(site_url + page)
        hosts, rendered = _wait_for_diagrams(v.page)
        assert hosts and rendered == hosts, f"{page}: {rendered} of {hosts} diagrams rendered as SVG"
        v.close()


def test_diagrams_render_after_navigating_through_the_site(built_site, site_url, visit):
    start = visit(site_url + "glossary.html").page
    for page in [p for p in READER_PAGES if _has_diagram(built_site, p)]:
        start.goto(site_url + "glossary.html")  # a top-level page without a diagram
        start.locator(f'nav.md-nav--primary a.md-nav__link[href="{page}"]').first.click()
        start.wait_for_load_state("load")
        hosts, rendered = _wait_for_diagrams(start)
        assert hosts and rendered == hosts, f"{page} reached by the nav: {rendered} of {hosts} diagrams rendered"


# --- 3. no third-party requests, no console errors, page weight (helper in 7) ---------


def test_pages_request_only_the_site_log_no_errors_and_keep_their_weight(built_site, site_url, visit):
    """Every page (and every file a page's code published) loads from the site alone, logs no
    console error, and a reader page transfers no more than its budget (section 7)."""
    report, over = [], []
    for page in READER_PAGES + PUBLISHED_FILES:
        v = visit(site_url + page)
        v.page.wait_for_load_state("networkidle")
        foreign = [u for u in v.requests if urlsplit(u).scheme in {"http", "https"} and urlsplit(u).hostname != "127.0.0.1"]
        assert not foreign, f"{page} requested third-party hosts: {foreign}"
        assert not v.errors, f"{page} logged console errors: {v.errors}"
        if page in READER_PAGES:
            kb = _transferred_kb(v)
            budget = BUDGET_DIAGRAM_KB if _has_diagram(built_site, page) else BUDGET_PLAIN_KB
            report.append(f"{page}: {kb:.0f} KB gzip (budget {budget})")
            if kb > budget:
                over.append(report[-1])
        v.close()
    print("\npage weight, HTML + CSS + JS (gzip):\n" + "\n".join(report))
    assert not over, "pages over their weight budget:\n" + "\n".join(over)


# --- 1. search ----------------------------------------------------------------------

SEARCH_TABLE = json.loads((Path(__file__).parent / "search_queries.json").read_text(encoding="utf-8"))


def search(page, query: str) -> list[str]:
    """Type a query into the search box like a reader; return the result links in order."""
    opener = page.locator('label.md-header__button[for="__search"]')
    if opener.is_visible():  # small screens: the magnifier opens the search dialog
        opener.click()
    box = page.locator("input.md-search__input")
    box.click()
    box.fill("")
    box.press_sequentially(query, delay=20)
    # The result count ("7 matching documents") appears once the worker has answered.
    page.wait_for_function(
        "() => /\\d/.test(document.querySelector('.md-search-result__meta')?.textContent || '')", timeout=10_000
    )
    # The worker answers each keystroke in turn; on a busy machine the last answer comes late.
    # Read the results until two reads 400 ms apart agree. Each read takes every href in one
    # evaluation: the list may be re-rendered between reads, and a per-link read could wait on a
    # link that is gone.
    links = page.locator(".md-search-result__item > a.md-search-result__link")

    def hrefs():
        return links.evaluate_all("links => links.map(a => a.getAttribute('href'))")

    previous, current = None, hrefs()
    for _ in range(25):
        if current == previous:
            break
        page.wait_for_timeout(400)
        previous, current = current, hrefs()
    return current


def _lands(row: dict, href: str) -> bool:
    """A result answers the row: its first page, at its section if given, or another page it lists
    (the module's lab notebook, which covers the same lab)."""
    path, _, anchor = (href or "").partition("#")
    path = path.split("?")[0]
    first, *others = row["page"] if isinstance(row["page"], list) else [row["page"]]
    if path.endswith(first):
        return not row.get("section") or anchor == row["section"]
    return any(path.endswith(p) for p in others)


def test_search_answers_readers_questions(site_url, visit):
    page = visit(site_url + "index.html").page
    misses = []
    for row in SEARCH_TABLE:
        top = search(page, row["query"])[:3]
        if not any(_lands(row, href) for href in top):
            misses.append(f"{row['query']!r}: expected {row['page']}#{row.get('section', '')} in the top 3, got {top}")
    print(f"\nsearch: {len(SEARCH_TABLE) - len(misses)} of {len(SEARCH_TABLE)} queries land in the top 3")
    assert not misses, "search misses:\n" + "\n".join(misses)


# --- 4. offline from file:// ---------------------------------------------------------


def test_offline_copy_searches_and_renders_diagrams(built_site, browser, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(built_site, copy)
    context = browser.new_context()
    try:
        page = context.new_page()
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto((copy / "index.html").as_uri(), wait_until="load")
        hosts, rendered = _wait_for_diagrams(page)
        assert hosts and rendered == hosts, f"file:// overview: {rendered} of {hosts} diagrams rendered"
        assert search(page, "running example"), "search returned nothing from file://"
        assert all(urlsplit(u).scheme in {"file", "data", "blob", "about"} for u in requests), [
            u for u in requests if urlsplit(u).scheme not in {"file", "data", "blob", "about"}
        ]
    finally:
        context.close()


# --- 5. accessibility ----------------------------------------------------------------


def _axe_violations(page) -> list[str]:
    page.add_script_tag(path=str(NODE_MODULES / "axe-core" / "axe.min.js"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


SCREENSHOT_PAGES = ["index.html", *MODULE_PAGES]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violations(built_site, site_url, visit, scheme):
    """axe-core on every reader page; the overview and the module pages, once checked, are also
    photographed for people to look at (test-artifacts/screenshots/, uploaded by the workflow)."""
    assert (NODE_MODULES / "axe-core").is_dir(), "node_modules/axe-core missing: run `make test` (it runs npm ci)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found = {}
    for page in READER_PAGES:
        v = visit(site_url + page, color_scheme=scheme)
        problems = _axe_violations(v.page)
        if problems:
            found[page] = problems
        if page in SCREENSHOT_PAGES:
            if _has_diagram(built_site, page):
                _wait_for_diagrams(v.page)
            target = ARTIFACTS / f"{Path(page).stem}-{scheme}.png"
            v.page.screenshot(path=str(target), full_page=False)
            assert target.stat().st_size > 10_000, f"{target} looks empty"
        v.close()
    assert not found, f"axe-core, {scheme} mode:\n" + json.dumps(found, indent=1)


def test_keyboard_reaches_search_nav_and_copy_buttons(site_url, browser):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.goto(site_url + "running-example.html", wait_until="load")
        focused = []
        for _ in range(60):
            page.keyboard.press("Tab")
            focused.append(page.evaluate("document.activeElement.outerHTML.slice(0, 120)"))
        assert any("md-search__input" in f for f in focused) or _search_by_keyboard(page), "search not reachable by keyboard"
        assert any("md-nav__link" in f for f in focused), "no navigation link reachable with Tab"
        # A copy button, reached and pressed with the keyboard, copies the code.
        page.locator("button.md-code__button[data-md-type=copy]").first.focus()
        page.keyboard.press("Enter")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert "from cardfraud import generate" in copied
    finally:
        context.close()


def _search_by_keyboard(page) -> bool:
    page.keyboard.press("/")
    return page.evaluate("document.activeElement.classList.contains('md-search__input')")


def test_links_to_a_section_land_on_its_heading(site_url, visit):
    """Code blocks off screen are skipped by layout (content-visibility in course.css): jumping
    to a section must still put its heading at the top of the window."""
    page = MODULE_PAGES[0]
    v = visit(site_url + page)
    anchors = v.page.eval_on_selector_all(".md-content h2[id]", "hs => hs.map(h => h.id)")
    assert len(anchors) >= 10
    missed = []
    for anchor in anchors:
        v.page.goto(f"{site_url}{page}#{anchor}", wait_until="load")
        v.page.wait_for_timeout(300)
        top, at_bottom = v.page.evaluate(
            f"""[document.getElementById('{anchor}').getBoundingClientRect().top,
                 Math.ceil(scrollY + innerHeight) >= document.documentElement.scrollHeight]"""
        )
        if not (0 <= top <= 150 or at_bottom):
            missed.append(f"#{anchor} is {top:.0f}px from the top")
    assert not missed, f"{page}: " + "; ".join(missed)


# --- 6. small screens --------------------------------------------------------------------


def test_small_screens_do_not_scroll_sideways(site_url, visit):
    wide = []
    for page in READER_PAGES:
        v = visit(site_url + page, width=375)
        overflow = v.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            wide.append(f"{page}: {overflow}px wider than the screen")
        drawer = v.page.locator('label.md-header__button[for="__drawer"]')
        assert drawer.is_visible(), f"{page}: no menu button at 375 px"
        drawer.click()
        link = v.page.locator("nav.md-nav--primary a.md-nav__link[href]").filter(has_text="Glossary").first
        try:
            link.wait_for(state="visible", timeout=5_000)
        except PlaywrightTimeout:
            pytest.fail(f"{page}: the nav's links are not visible after opening the menu at 375 px", pytrace=False)
        v.close()
    assert not wide, "pages that scroll sideways at 375 px:\n" + "\n".join(wide)


# --- 7. speed and weight -----------------------------------------------------------------


def _transferred_kb(v: Visit) -> float:
    total = 0
    for response in v.responses:
        kind = response.request.resource_type
        if kind in {"document", "script", "stylesheet"}:
            total += len(gzip.compress(response.body(), 9))
    return total / 1024


def _lighthouse(url: str, tmp_path: Path) -> tuple[dict[str, int], float]:
    """Scores per category, and the host's benchmarkIndex."""
    cli = NODE_MODULES / ".bin" / "lighthouse"
    assert cli.exists(), "node_modules/.bin/lighthouse missing: run `make test` (it runs npm ci)"
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            str(cli), url, "--preset=desktop", "--output=json", f"--output-path={report}", "--quiet",
            f"--chrome-path={CHROMIUM}", "--chrome-flags=" + " ".join(["--headless=new", *CHROMIUM_ARGS]),
            "--only-categories=performance,accessibility,best-practices,seo",
        ],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CHROME_PATH": str(CHROMIUM)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lhr = json.loads(report.read_text())
    scores = {name: round(c["score"] * 100) for name, c in lhr["categories"].items()}
    return scores, lhr["environment"]["benchmarkIndex"]


@pytest.mark.parametrize("page", LIGHTHOUSE_MINIMUMS)
def test_lighthouse_desktop_scores(site_url, page, tmp_path):
    """The median of three runs per category: one run's performance score varies by a few points.
    The host's benchmarkIndex is printed with it: the performance score depends on the CPU."""
    runs, benchmarks = zip(*(_lighthouse(site_url + page, tmp_path) for _ in range(LIGHTHOUSE_RUNS)))
    scores = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    host = f"host benchmarkIndex {statistics.median(benchmarks):.0f}"
    print(f"\nlighthouse {page}: median {scores} of {list(runs)}; {host}")
    low = {k: v for k, v in scores.items() if v < LIGHTHOUSE_MINIMUMS[page][k]}
    assert not low, f"{page}: Lighthouse scores below {LIGHTHOUSE_MINIMUMS[page]}: {low} (runs: {list(runs)}; {host})"


# --- 7b. lab pages keep only the CSS they use -----------------------------------------------

# Two loads of the same page differ by up to 13 levels in a few anti-aliased pixels (the logo);
# a CSS rule that matters changes a colour, a border or the layout by more.
_PIXEL_TOLERANCE = 16


def _full_screenshot(browser, url: str, scheme: str, html: str | None = None) -> bytes:
    """The whole page at 1280 px, as one viewport (no scrolling), optionally served from ``html``."""
    v = Visit(browser, url, color_scheme=scheme, html=html)
    try:
        v.page.set_viewport_size({"width": 1280, "height": v.page.evaluate("document.documentElement.scrollHeight")})
        v.page.wait_for_timeout(300)
        return v.page.screenshot(animations="disabled", caret="hide")
    finally:
        v.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_lab_pages_look_the_same_with_only_the_css_they_use(built_site, site_url, browser, private_home, scheme):
    """overrides/hooks/notebook_pages.py drops the JupyterLab CSS rules no element of a lab page
    can match; each page must render as with the stylesheets mkdocs-jupyter wrote, pixel for pixel."""
    from PIL import Image, ImageChops

    cache = Path(block_environment(private_home)["MKDOCS_JUPYTER_CACHE_DIR"])
    rendered = [json.loads(p.read_text(encoding="utf-8"))["content"] for p in sorted(cache.glob("*.json"))]
    assert rendered, f"no notebook rendered by mkdocs-jupyter in {cache}"
    hook = load_hook("notebook_pages")
    # The stylesheets as mkdocs-jupyter wrote them, less the mermaid loader's, which the hook removes whole.
    stylesheets = lambda content: [m[2] for m in hook.STYLE.finditer(hook.DEAD_BLOCKS.sub("", content))]
    whole = stylesheets(rendered[0])
    assert all(stylesheets(r) == whole for r in rendered), "the lab pages' stylesheets differ"
    different = []
    for lab in LAB_PAGES:
        built = (built_site / lab).read_text(encoding="utf-8")
        kept = stylesheets(built)
        assert len(kept) == len(whole), f"{lab}: {len(kept)} <style> blocks, mkdocs-jupyter wrote {len(whole)}"
        assert sum(map(len, kept)) < sum(map(len, whole)) / 2, f"{lab}: the unused CSS was not removed"
        originals = iter(whole)
        reference = hook.STYLE.sub(lambda m: m[1] + next(originals) + m[3], built)
        url = site_url + lab
        ours = Image.open(io.BytesIO(_full_screenshot(browser, url, scheme)))
        theirs = Image.open(io.BytesIO(_full_screenshot(browser, url, scheme, html=reference)))
        if ours.size != theirs.size:
            different.append(f"{lab} ({scheme}): {ours.size} px vs {theirs.size} with the whole stylesheets")
            continue
        diff = ImageChops.difference(ours.convert("RGB"), theirs.convert("RGB"))
        box = diff.point(lambda level: 255 if level > _PIXEL_TOLERANCE else 0).getbbox()
        if box:
            different.append(f"{lab} ({scheme}): differs from the page with the whole stylesheets in the box {box}")
    assert not different, "lab pages that render differently without the unused CSS:\n" + "\n".join(different)
