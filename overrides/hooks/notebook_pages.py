"""MkDocs hook: removes from the lab notebook pages what nbconvert adds but no lab uses.

mkdocs-jupyter renders a notebook with nbconvert's JupyterLab template, which embeds

- a loader for mermaid diagrams in notebook *outputs*, importing mermaid from cdnjs (a
  third-party host) when such an output exists, with its stylesheet;
- a MathJax configuration and a MathJax ``<script src="">`` (the plugin's MathJax URL is empty);
- JupyterLab's whole stylesheet (575 KB, 86 KB gzip), in a ``<style>`` on every lab page.

No lab has a mermaid output or math, so the first two are dead code on every lab page: the hook
removes them. A notebook that does produce a mermaid output fails the build: its diagram would
need the CDN. No configuration of mkdocs-jupyter or nbconvert leaves them out.

Of the stylesheets, the hook keeps the rules whose selectors may match an element of the page
(every class they name is on it; classes inside ``:not()`` and the like do not count) and the
custom properties (``--jp-...``) that what is kept uses. A lab page goes from ~172 KB gzip (HTML +
CSS + JS) to ~90 KB, under the 120 KB budget of every page without a diagram; it costs the build
~0.1 s for the six labs (a general CSS parser, tinycss2, takes 0.5 s to read the stylesheet).
``tests/test_browser.py`` checks that each lab page renders, in light and dark mode, as it does
with the whole stylesheets, pixel for pixel.

For search, a lab page ranks below the pages that teach (``LAB_SEARCH_BOOST``, Material's documented
per-page ``search.boost``) and what its cells printed is not indexed (``data-search-exclude``, also
documented): a lab repeats its module's words in its steps and in every output, and outranked the
sections that explain them (``tests/test_browser.py``'s search table measures it).

Both cuts depend on what mkdocs-jupyter and nbconvert write: the comments around the dead blocks,
the stylesheet's text. They were written against the versions in WRITTEN_FOR, and
``tests/test_site.py`` fails when an installed version differs, to have them checked again.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

WRITTEN_FOR = {"mkdocs-jupyter": "0.26.3", "nbconvert": "7.17.2"}
# nbconvert writes the two blocks one after the other, each between HTML comments.
DEAD_BLOCKS = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mermaid configuration -->", re.S)


# A cell's printed text (a <pre>) or table, right inside its output area. Material's parser drops
# an element marked data-search-exclude only if no element of the same tag is nested in it, so the
# mark goes on the <pre> and the <table>, not on the output's <div>.
CELL_OUTPUT = re.compile(r'(<div class="[^"]*\bjp-OutputArea-output\b[^>]*>\s*)<(pre|table)\b')


LAB_SEARCH_BOOST = 0.5


@event_priority(50)  # before Material's search plugin indexes the page (priority 0)
def on_page_context(context, page, config, nav):
    if page.file.src_uri.endswith(".ipynb"):
        page.meta.setdefault("search", {}).setdefault("boost", LAB_SEARCH_BOOST)
        page.content = CELL_OUTPUT.sub(r"\1<\2 data-search-exclude", page.content)
    return context


def on_post_page(output, page, config):
    if not page.file.src_uri.endswith(".ipynb"):
        return output
    if 'class="jp-Mermaid"' in output:
        raise PluginError(
            f"{page.file.src_uri}: a cell outputs a mermaid diagram; nbconvert would load mermaid "
            "from a CDN. Put the diagram in the lab's Markdown page instead."
        )
    output, found = DEAD_BLOCKS.subn("", output)
    if found != 1:
        raise PluginError(
            f"{page.file.src_uri}: expected nbconvert's MathJax and mermaid blocks once in "
            f"mkdocs-jupyter's output, found them {found} times; the template changed, "
            "update overrides/hooks/notebook_pages.py"
        )
    return without_unused_css(output)


# --- unused CSS ------------------------------------------------------------------------------

STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style>)", re.S)
_CLASS_ATTRIBUTE = re.compile(r'class="([^"]*)"')
_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_BRACE_OR_SEMICOLON = re.compile(r"[{};]")
_BRACE = re.compile(r"[{}]")
_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
# A class inside :not(), :is(), :where() or :has() need not be on the page for the selector to match.
_FUNCTIONAL_PSEUDO = re.compile(r":(?:not|is|where|has)\((?:[^()]|\([^()]*\))*\)")
# An attribute selector's value is not a class: [data-mime-type="application/vnd.jupyter.stderr"].
_ATTRIBUTE_SELECTOR = re.compile(r"\[(?:[^\]\"']|\"[^\"]*\"|'[^']*')*\]")
# At-rules that hold rules (kept when a rule inside is kept); other at-rules are kept whole.
_GROUPING_AT_RULES = ("@media", "@supports", "@container", "@layer")
_DEFINES_PROPERTY = re.compile(r"(?:^|[;\s])--[\w-]+\s*:")
_DEFINITION = re.compile(r"\s*(--[\w-]+)\s*:")
_REFERENCE = re.compile(r"var\(\s*(--[\w-]+)")


class _Rule(NamedTuple):
    selectors: tuple[tuple[str, frozenset[str]], ...]  # each selector with the classes it needs
    # Each declaration's text, with the custom property it defines (``--jp-ui-font-size1``) or None.
    declarations: tuple[tuple[str | None, str], ...]


class _Group(NamedTuple):
    head: str
    items: tuple


class _Unreadable(ValueError):
    pass


def without_unused_css(html: str) -> str:
    """``html`` without the CSS rules that cannot match any of its elements, nor the custom
    properties (``--name: value``) that nothing left uses, in its ``<style>`` blocks."""
    styles = list(STYLE.finditer(html))
    # The page around its stylesheets: one more piece than there are stylesheets.
    starts, ends = [0] + [s.end(2) for s in styles], [s.start(2) for s in styles] + [len(html)]
    around = [html[start:end] for start, end in zip(starts, ends)]
    outside_styles = "".join(around)
    classes = frozenset(c for value in _CLASS_ATTRIBUTE.findall(outside_styles) for c in value.split())
    kept = []
    for style in styles:
        try:
            kept.append(_matching(_parse(style[2]), classes))
        except _Unreadable:
            kept.append(style[2])  # not CSS this reader understands: kept as it is
    used = _used_properties(kept, outside_styles)  # inline style="" can use custom properties too
    css = [items if isinstance(items, str) else "".join(_serialise(items, used)) for items in kept]
    return "".join(piece for pair in zip(around, css + [""]) for piece in pair)


def _matching(items: tuple, classes: frozenset[str]) -> tuple:
    """The rules of ``items`` with the selectors that may match an element with these ``classes``."""
    kept = []
    for item in items:
        if isinstance(item, _Group):
            inner = _matching(item.items, classes)
            if inner:
                kept.append(_Group(item.head, inner))
        elif isinstance(item, _Rule):
            selectors = tuple((s, needs) for s, needs in item.selectors if needs <= classes)
            if selectors:
                kept.append(_Rule(selectors, item.declarations))
        else:
            kept.append(item)
    return tuple(kept)


def _used_properties(kept: list, html_outside_styles: str) -> set[str]:
    """Custom properties used outside their definitions, and those their used values use in turn."""
    values: dict[str, list[str]] = {}
    elsewhere = [html_outside_styles]
    for items in kept:
        if isinstance(items, str):
            elsewhere.append(items)
            continue
        elsewhere += [item for item in _walk(items) if isinstance(item, str)]  # at-rules kept whole
        for rule in _rules(items):
            for name, text in rule.declarations:
                if name:
                    values.setdefault(name, []).append(text)
                else:
                    elsewhere.append(text)
    used, new = set(), set(_REFERENCE.findall("".join(elsewhere)))
    while new:
        used |= new
        new = set(_REFERENCE.findall("".join(text for name in new for text in values.get(name, ())))) - used
    return used


def _walk(items: tuple):
    for item in items:
        if isinstance(item, _Group):
            yield from _walk(item.items)
        else:
            yield item


def _rules(items: tuple):
    return (item for item in _walk(items) if isinstance(item, _Rule))


def _serialise(items: tuple, used: set[str]):
    """CSS text of ``items``, defining only the custom properties in ``used``."""
    for item in items:
        if isinstance(item, str):  # an at-rule kept whole: @charset, @keyframes, @font-face ...
            yield item
        elif isinstance(item, _Group):
            inner = "".join(_serialise(item.items, used))
            if inner:
                yield item.head + "{" + inner + "}"
        else:
            body = ";".join(text for name, text in item.declarations if not name or name in used)
            if body.strip():
                yield ",".join(s for s, _ in item.selectors) + "{" + body + "}"


@functools.cache  # the six lab pages carry the same stylesheet: read it once per build
def _parse(css: str) -> tuple:
    items, end = _parse_rules(_COMMENT.sub("", css), 0)
    if end != -1:
        raise _Unreadable("a '}' closes nothing")
    return items


def _parse_rules(css: str, start: int) -> tuple[tuple, int]:
    """The rules from ``css[start:]`` up to the ``}`` that closes them (its index after) or the end (-1)."""
    items, i = [], start
    while match := _BRACE_OR_SEMICOLON.search(css, i):
        head = css[i:match.start()].strip()
        if match[0] == "}":
            if head:
                raise _Unreadable(f"text without a block: {head[:40]!r}")
            return tuple(items), match.end()
        if match[0] == ";":
            items.append(head + ";")
            i = match.end()
        elif head.startswith(_GROUPING_AT_RULES):
            inner, i = _parse_rules(css, match.end())
            if i == -1:
                raise _Unreadable(f"{head[:40]!r} is not closed")
            items.append(_Group(head, inner))
        else:
            end = _closing_brace(css, match.start())
            body = css[match.end():end]
            if head.startswith("@"):
                items.append(head + "{" + body + "}")
            else:
                items.append(_Rule(tuple((s, _needed_classes(s)) for s in _selectors(head)), _declarations(body)))
            i = end + 1
    if css[i:].strip():
        raise _Unreadable(f"text without a block: {css[i:i + 40]!r}")
    return tuple(items), -1


def _closing_brace(css: str, opening: int) -> int:
    depth = 0
    for brace in _BRACE.finditer(css, opening):
        depth += 1 if brace[0] == "{" else -1
        if depth == 0:
            return brace.start()
    raise _Unreadable("a '{' is not closed")


def _selectors(selector_list: str) -> list[str]:
    """Split at the commas outside parentheses, brackets and quotes."""
    if not any(char in selector_list for char in "([\"'"):
        return selector_list.split(",")
    return _split(selector_list, ",")


def _declarations(body: str) -> tuple[tuple[str | None, str], ...]:
    if not _DEFINES_PROPERTY.search(body):
        return ((None, body),)  # nothing to take out: not split
    return tuple((m[1] if (m := _DEFINITION.match(part)) else None, part) for part in _split(body, ";"))


def _split(text: str, separator: str) -> list[str]:
    """``text`` split at each ``separator`` outside quotes, parentheses and brackets."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _needed_classes(selector: str) -> frozenset[str]:
    return frozenset(_CLASS.findall(_ATTRIBUTE_SELECTOR.sub("", _FUNCTIONAL_PSEUDO.sub("", selector))))
