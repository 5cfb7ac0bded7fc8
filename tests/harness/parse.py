"""A page's code blocks and markers, read with markdown-it-py.

Every fence is either executed (``python``/``py``, ``bash``/``sh``) or in SHOWN_LANGUAGES; any
other fence, a ``~~~`` fence, an indented code block or an unclosed fence fails the page with
its file:line. Fences inside admonitions (``!!!``), collapsed blocks (``???``) and tabs (``===``)
count like any other, with their page line numbers.

Markers are HTML comments on the lines right before a fence (see MARKERS): ``<!--block: continue-->``
joins the previous executed block's chain, ``<!--block: output-->`` makes the fence its shown
output, ``skip``, ``timeout`` and ``publishes`` say how a chain runs. A comment that starts with
``block`` is a marker and must be a valid one; so nothing a contributor meant as a marker is ignored.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from tests.harness import ROOT, includes

LANGUAGES = {"python": "python", "py": "python", "bash": "bash", "sh": "bash"}
# Shown, never run. Add a language here when a page needs one.
SHOWN_LANGUAGES = frozenset({"text", "console", "yaml", "json", "toml", "ini", "dockerfile", "mermaid", "markdown", "html", "sql"})
# A block that cannot run here says why, with one of these reasons.
ALLOWED_SKIP_REASONS = frozenset(
    {
        "needs a Kubernetes cluster",
        "needs a cloud account",
        "needs a GPU",
        "needs a Docker engine",
        "starts a long-running server",
        "run by the reader test",  # docs/get-started.md's commands: tests/test_reader.py runs them
    }
)
DEFAULT_TIMEOUT_S = 60
MARKERS = {  # name: (how many arguments, what they are)
    "continue": (0, "nothing"),
    "output": (0, "nothing"),
    "skip": (1, 'a quoted reason: skip "needs a GPU"'),
    "timeout": (1, "whole seconds: timeout 180"),
    "publishes": (2, 'the file the chain writes, then its copy under docs/: publishes "report.html" "docs/assets/reports/report.html"'),
}
_COMMENT = re.compile(r"<!--(.*?)-->", re.S)
_MARKER = re.compile(r"\s*block\b\s*(?P<colon>:?)(?P<body>.*)", re.S)
_OLD_MARKER = re.compile(r"\s*pytest[.\-]")
# Admonitions, collapsed blocks and tabs: the lines indented under them are their content.
_CONTAINER = re.compile(r"(?:!!!|\?\?\?\+?|===[+!]?)[ \t]+\S")


class PageError(Exception):
    """A page's blocks cannot be read: the message starts with file:line."""


@dataclass
class Output:
    """A shown output: the content of the fence after an ``output`` marker."""

    text: str
    first_line: int  # page line of its first line of content
    end_line: int  # page line of its closing fence
    indent: str  # the fence's indentation (inside an admonition or a tab)


@dataclass
class Block:
    root: Path  # the site: mkdocs.yml, docs/, snippets/
    page: Path
    line: int  # of the opening fence
    language: str  # "python" or "bash"
    code: str  # with includes expanded
    origins: list[str]  # for each line of ``code``: "path:line" it came from
    output: Output | None = None
    skip_reason: str | None = None
    timeout_s: int | None = None
    continues: bool = False
    publishes: list[tuple[str, Path]] = field(default_factory=list)  # (file written, copy under docs/)
    source: str = ""  # as written on the page, includes not expanded
    title: str = ""  # the fence's title="..." attribute

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(self.root)}:{self.line}"


@dataclass
class Chain:
    """A block and the blocks that continue it: one process, one working directory."""

    blocks: list[Block]

    @property
    def first(self) -> Block:
        return self.blocks[0]

    @property
    def id(self) -> str:
        return self.first.where

    @property
    def language(self) -> str:
        return self.first.language

    @property
    def skip_reason(self) -> str | None:
        return self.first.skip_reason

    @property
    def timeout_s(self) -> int:
        """The longest timeout a block of the chain sets, else the default."""
        return max((b.timeout_s for b in self.blocks if b.timeout_s), default=DEFAULT_TIMEOUT_S)

    @property
    def publishes(self) -> list[tuple[str, Path]]:
        return [item for block in self.blocks for item in block.publishes]


@dataclass
class _Marker:
    name: str
    args: list[str]
    where: str


def pages(root: Path = ROOT) -> list[Path]:
    return sorted((root / "docs").rglob("*.md"))


def page_chains(page: Path, root: Path = ROOT) -> list[Chain]:
    """Every chain of executed blocks on a page, in order."""
    return chains(page_blocks(page, root))


def page_blocks(page: Path, root: Path = ROOT) -> list[Block]:
    """Every executed block of a page, in order, with its markers and shown output."""
    rel = str(page.relative_to(root))
    text = page.read_text(encoding="utf-8")
    lines = text.splitlines()
    blocks: list[Block] = []
    previous_fence: Block | str | None = None  # the last fence seen: a Block if executed
    pending: list[_Marker] = []
    for token in _markdown().parse(text):
        line = token.map[0] + 1 if token.map else None
        where = f"{rel}:{line}"
        if token.type == "html_block" and (found := _markers(token.content, rel, line)):
            pending += found
            continue
        if token.type == "inline":
            for child in token.children or []:
                if child.type == "html_inline" and _markers(child.content, rel, line):
                    raise PageError(f"{where}: a marker must be on its own line, right before a fence")
        if token.type == "code_block":
            raise PageError(f"{where}: an indented code block is shown but never run; write a fenced block")
        if token.type != "fence":
            if pending and token.map:
                raise PageError(f"{pending[0].where}: marker not followed by a fence (only blank lines may come between)")
            continue
        _check_fence(token, lines, where)
        language = token.info.split(maxsplit=1)[0]
        if LANGUAGES.get(language) is None:
            if any(m.name == "output" for m in pending):
                previous_fence = _attach_output(previous_fence, token, lines, pending, where)
            elif pending:
                raise PageError(f"{pending[0].where}: markers apply to python/bash blocks; this one is {language!r}")
            else:
                previous_fence = language
            pending = []
            continue
        try:
            code, origins = includes.expand(token.content, root, rel, line + 1)
        except includes.IncludeError as error:
            raise PageError(str(error)) from error
        title = re.search(r'\btitle="([^"]*)"', token.info)
        block = Block(root, page, line, LANGUAGES[language], code, origins, source=token.content, title=title[1] if title else "")
        for marker in pending:
            _apply(marker, block, page, text, root)
        blocks.append(block)
        previous_fence, pending = block, []
    if pending:
        raise PageError(f"{pending[0].where}: marker not followed by a fence")
    return blocks


def fence_lines(page: Path) -> list[int]:
    """The line of every fence on the page, executed or shown."""
    return [token.map[0] + 1 for token in _markdown().parse(page.read_text(encoding="utf-8")) if token.type == "fence"]


def chains(blocks: list[Block]) -> list[Chain]:
    """Group continued blocks with the chain they continue."""
    out: list[Chain] = []
    for block in blocks:
        if not block.continues:
            out.append(Chain([block]))
            continue
        if not out:
            raise PageError(f"{block.where}: marked continue, but no executed block comes before it")
        previous = out[-1]
        if previous.language != block.language:
            raise PageError(f"{block.where}: a {block.language} block cannot continue a {previous.language} chain (started at {previous.id})")
        if block.skip_reason != previous.skip_reason:
            raise PageError(f"{block.where}: a continued block must be skipped exactly when its chain is (started at {previous.id})")
        previous.blocks.append(block)
    return out


@cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark").use(front_matter_plugin)
    md.block.ruler.before("fence", "container", _container, {"alt": ["paragraph", "reference", "blockquote", "list"]})
    return md


def _container(state, start: int, end: int, silent: bool) -> bool:
    """``!!! note``, ``??? question "Title"``, ``=== "Tab"``: the following lines indented four
    spaces more (blank lines included) are Markdown of their own, as Python-Markdown reads them."""
    if state.sCount[start] - state.blkIndent >= 4:
        return False  # an indented code block
    if not _CONTAINER.match(state.src, state.bMarks[start] + state.tShift[start], state.eMarks[start]):
        return False
    if silent:
        return True
    indent = state.sCount[start] + 4
    last = start + 1
    while last < end and (state.isEmpty(last) or state.sCount[last] >= indent):
        last += 1
    saved = state.parentType, state.lineMax, state.blkIndent
    state.parentType, state.lineMax, state.blkIndent = "container", last, indent
    token = state.push("container_open", "div", 1)
    token.map = [start, last]
    state.md.block.tokenize(state, start + 1, last)
    state.push("container_close", "div", -1)
    state.parentType, state.lineMax, state.blkIndent = saved
    state.line = last
    return True


def _check_fence(token, lines: list[str], where: str) -> None:
    if token.markup.startswith("~"):
        raise PageError(f"{where}: write code fences with backticks (```), not {token.markup}")
    info = token.info.strip()
    if not info:
        raise PageError(f"{where}: a fence needs a language (```text for plain text)")
    language = info.split(maxsplit=1)[0]
    if language not in LANGUAGES and language not in SHOWN_LANGUAGES:
        raise PageError(
            f"{where}: unknown fence language {language!r}; executed: {', '.join(LANGUAGES)}; "
            f"shown only: {', '.join(sorted(SHOWN_LANGUAGES))} (tests/harness/parse.py)"
        )
    closing = lines[token.map[1] - 1].strip() if token.map[1] - 1 > token.map[0] else ""
    if not (closing.startswith(token.markup) and closing.strip("`") == ""):
        raise PageError(f"{where}: this fence is never closed")


def _markers(html: str, page: str, line: int) -> list[_Marker]:
    """The markers in an HTML block; other comments are not markers."""
    found = []
    for comment in _COMMENT.finditer(html):
        where = f"{page}:{line + html.count(chr(10), 0, comment.start())}"
        if _OLD_MARKER.match(comment[1]):
            raise PageError(f"{where}: old marker <!--{comment[1]}-->; markers are now <!--block: ...--> (CONTRIBUTING.md)")
        if match := _MARKER.match(comment[1]):
            found.append(_parse_marker(match, where))
    return found


def _parse_marker(match: re.Match, where: str) -> _Marker:
    try:
        name, *args = shlex.split(match["body"]) if match["colon"] else [""]
    except ValueError:
        name, args = "", []
    if name not in MARKERS:
        known = "; ".join(f"<!--block: {n}--> takes {what}" for n, (_, what) in MARKERS.items())
        raise PageError(f"{where}: unknown marker <!--block{match['colon']}{match['body']}-->; {known}")
    count, what = MARKERS[name]
    if len(args) != count or (name == "timeout" and not args[0].isdigit()) or (name == "publishes" and not args[1].startswith("docs/")):
        raise PageError(f"{where}: <!--block: {name}--> takes {what}")
    if name == "skip" and args[0] not in ALLOWED_SKIP_REASONS:
        raise PageError(f"{where}: skip reason {args[0]!r} is not allowed; use one of: " + "; ".join(sorted(ALLOWED_SKIP_REASONS)))
    return _Marker(name, args, where)


def _apply(marker: _Marker, block: Block, page: Path, text: str, root: Path) -> None:
    if marker.name == "continue":
        block.continues = True
    elif marker.name == "skip":
        block.skip_reason = marker.args[0]
    elif marker.name == "timeout":
        block.timeout_s = int(marker.args[0])
    elif marker.name == "publishes":
        name, target = marker.args
        link = posixpath.relpath(target.removeprefix("docs/"), posixpath.dirname(str(page.relative_to(root / "docs"))))
        if f"]({link})" not in text:
            raise PageError(f"{marker.where}: the page publishes {target} but never links to it as ]({link})")
        block.publishes.append((name, root / target))
    else:  # output
        raise PageError(f"{marker.where}: <!--block: output--> goes after a code block, before the fence that shows its output")


def _attach_output(previous: Block | str | None, token, lines: list[str], markers: list[_Marker], where: str) -> str:
    """The fence after an ``output`` marker is the shown output of the executed block just before it."""
    marker = next(m for m in markers if m.name == "output")
    if len(markers) > 1:
        raise PageError(f"{marker.where}: an output fence takes no other marker")
    if not isinstance(previous, Block):  # a shown fence, another output, or nothing
        raise PageError(f"{marker.where}: <!--block: output--> must follow a python or bash block (the fence before it is {previous or 'none'})")
    if previous.skip_reason:
        raise PageError(f"{marker.where}: the block at {previous.where} is skipped; its output cannot be checked")
    if any(includes.INCLUDE.match(line) for line in token.content.splitlines()):
        raise PageError(f"{where}: a shown output is written on the page, not included")
    start, end = token.map[0], token.map[1] - 1
    indent = re.match(r"\s*", lines[start])[0]
    previous.output = Output(token.content, start + 2, end + 1, indent)
    return "output"
