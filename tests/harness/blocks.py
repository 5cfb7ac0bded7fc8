"""Find the executable code blocks of the site's pages.

Built on pytest-codeblocks' extractor, with the gaps of its plugin closed:
fence headers like ```` ```python title="x.py" ```` and ```` ```py ```` are
collected, ``--8<--`` includes are expanded with pymdownx.snippets itself (with
the configuration from mkdocs.yml), continued blocks keep their boundaries, and
every shown output is located so that it can be checked and rewritten.
"""

from __future__ import annotations

import io
import posixpath
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import markdown
from mkdocs.config import load_config
from pymdownx.snippets import SnippetPreprocessor
from pytest_codeblocks import extract_from_buffer

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SNIPPETS = ROOT / "snippets"

LANGUAGES = {"python": "python", "py": "python", "bash": "bash", "sh": "bash"}
# A block that cannot run here says why, with one of these reasons.
ALLOWED_SKIP_REASONS = frozenset(
    {
        "needs a Kubernetes cluster",
        "needs a cloud account",
        "needs a GPU",
        "needs a Docker engine",
        "starts a long-running server",
        "run by the reader test",  # tests/test_reader.py runs the Get started page's commands
    }
)
DEFAULT_TIMEOUT_S = 60
_CONT = "pytest.mark.harness_cont"  # the extractor would merge continued blocks; we keep them apart
_SKIP = re.compile(r"""^pytest\.mark\.skip\(\s*reason\s*=\s*(["'])(.*)\1\s*\)$""")
_TIMEOUT = re.compile(r"^pytest\.mark\.timeout\(\s*(\d+)\s*\)$")
# A file the chain writes in its working directory, kept under docs/ for the page to link to.
_PUBLISHES = re.compile(r"""^pytest\.mark\.publishes\(\s*(["'])([^"']+)\1\s*,\s*(["'])(docs/[^"']+)\3\s*\)$""")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")
_INCLUDE = re.compile(r"""^\s*-{1,}8<-{1,}\s+(["'])(?P<path>[^"']+)\1\s*$""")


class PageError(Exception):
    """A page's blocks cannot be read: names the file and line."""


@dataclass
class Output:
    """A shown output: inline on the page, or in an included file."""

    text: str
    page_line: int  # first line of the output's content on the page
    end_line: int  # line after the last line of content (the closing fence)
    file: Path | None = None  # set when the output block is an include of a file under snippets/


@dataclass
class Block:
    page: Path
    line: int  # line of the opening fence
    language: str
    source: str  # as written on the page
    code: str  # with includes expanded
    origins: list[str]  # for each line of ``code``: "path:line" it came from
    output: Output | None = None
    skip_reason: str | None = None
    timeout_s: int | None = None
    continues: bool = False
    publishes: list[tuple[str, Path]] = field(default_factory=list)  # (file written, copy under docs/)
    title: str = ""  # the fence's title="..." attribute

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@dataclass
class Chain:
    """A block and the blocks that continue it: one process, one working directory."""

    blocks: list[Block] = field(default_factory=list)

    @property
    def first(self) -> Block:
        return self.blocks[0]

    @property
    def language(self) -> str:
        return self.first.language

    @property
    def skip_reason(self) -> str | None:
        return self.first.skip_reason

    @property
    def timeout_s(self) -> int:
        return max([b.timeout_s or 0 for b in self.blocks] + [DEFAULT_TIMEOUT_S])

    @property
    def publishes(self) -> list[tuple[str, Path]]:
        return [item for block in self.blocks for item in block.publishes]

    @property
    def id(self) -> str:
        return self.first.where


@cache
def _snippet_preprocessor() -> SnippetPreprocessor:
    """pymdownx.snippets configured exactly as mkdocs.yml configures it for the site."""
    config = load_config(str(ROOT / "mkdocs.yml"))
    options = dict(config.mdx_configs.get("pymdownx.snippets", {}))
    options["base_path"] = [str(ROOT / p) for p in options.get("base_path", ["."])]
    md = markdown.Markdown(extensions=["pymdownx.snippets"], extension_configs={"pymdownx.snippets": options})
    return md.preprocessors["snippet"]


def expand_includes(text: str, where: str) -> tuple[str, list[str]]:
    """Expand ``--8<--`` lines as the site does; return the code and each line's origin."""
    out: list[str] = []
    origins: list[str] = []
    page, _, first = where.rpartition(":")
    for offset, line in enumerate(text.splitlines()):
        match = _INCLUDE.match(line)
        if not match:
            out.append(line)
            origins.append(f"{page}:{int(first) + 1 + offset}")
            continue
        try:
            expanded = _snippet_preprocessor().run([line])
        except Exception as error:  # pymdownx raises SnippetMissingError for a missing file
            raise PageError(f"{page}:{int(first) + 1 + offset}: cannot include {match['path']!r}: {error}") from error
        out.extend(expanded)
        origins.extend(_origins_of(match["path"], expanded))
    return "\n".join(out) + "\n", origins


def snippet_file(spec: str) -> str:
    """The file an include names, without its ``:section`` or ``:start:end`` suffix."""
    return re.split(r":(?=[\w\-]+$|\d)", spec, maxsplit=1)[0]


def _origins_of(spec: str, lines: list[str]) -> list[str]:
    """Where each included line lives in its snippet file (searched in order)."""
    name = snippet_file(spec)
    path = SNIPPETS / name
    source = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    origins, cursor = [], 0
    for line in lines:
        for number in range(cursor, len(source)):
            if source[number] == line:
                cursor = number + 1
                origins.append(f"snippets/{name}:{number + 1}")
                break
        else:
            origins.append(f"snippets/{name}")
    return origins


def page_blocks(page: Path) -> list[Block]:
    """Every executable block of a Markdown page, in order."""
    text = page.read_text(encoding="utf-8")
    rel = page.relative_to(ROOT)
    buffer = text.replace("<!--pytest-codeblocks:cont-->", f"<!--{_CONT}-->")
    try:
        raw = extract_from_buffer(io.StringIO(buffer))
    except RuntimeError as error:
        raise PageError(f"{rel}: {error}") from error
    lines = text.splitlines()
    blocks = []
    for item in raw:
        language = LANGUAGES.get((item.syntax or "").split(" ", 1)[0].split("{", 1)[0].strip())
        where = f"{rel}:{item.lineno}"
        if language is None:
            if item.expected_output is not None or any(m == _CONT for m in item.marks):
                raise PageError(f"{where}: only python/py/bash/sh blocks can be continued or have an output")
            continue
        code, origins = expand_includes(item.code, where)
        title = re.search(r'title="([^"]*)"', item.syntax or "")
        block = Block(page, item.lineno, language, item.code, code, origins, title=title[1] if title else "")
        for mark in item.marks:
            if mark == _CONT:
                block.continues = True
            elif m := _SKIP.match(mark):
                if m[2] not in ALLOWED_SKIP_REASONS:
                    raise PageError(
                        f"{where}: skip reason {m[2]!r} is not allowed; use one of: "
                        + "; ".join(sorted(ALLOWED_SKIP_REASONS))
                    )
                block.skip_reason = m[2]
            elif m := _TIMEOUT.match(mark):
                block.timeout_s = int(m[1])
            elif m := _PUBLISHES.match(mark):
                target = ROOT / m[4]
                link = posixpath.relpath(m[4].removeprefix("docs/"), posixpath.dirname(str(page.relative_to(DOCS))))
                if f"]({link})" not in text:
                    raise PageError(f"{where}: the page publishes {m[4]} but never links to it as ]({link})")
                block.publishes.append((m[2], target))
            else:
                raise PageError(f"{where}: unknown marker <!--{mark}-->; see CONTRIBUTING.md")
        if item.expected_output is not None:
            block.output = _locate_output(lines, item.lineno, rel)
        blocks.append(block)
    return blocks


def _locate_output(lines: list[str], code_line: int, rel: Path) -> Output:
    """The fenced block after the expected-output marker that follows the code at ``code_line``."""
    index = _fence_end(lines, code_line - 1, rel) + 1
    while index < len(lines) and "expected-output" not in lines[index]:
        index += 1
    index += 1
    while index < len(lines) and not _FENCE.match(lines[index]):
        index += 1
    if index >= len(lines):
        raise PageError(f"{rel}:{code_line}: expected-output marker without a fenced block after it")
    start = index
    end = _fence_end(lines, start, rel)
    indent = len(_FENCE.match(lines[start])[1])
    content = [line[indent:] for line in lines[start + 1 : end]]
    included = [_INCLUDE.match(line) for line in content if line.strip()]
    if len(included) == 1 and included[0]:
        path = SNIPPETS / included[0]["path"]
        if not path.is_file():
            raise PageError(f"{rel}:{start + 2}: shown output file snippets/{included[0]['path']} does not exist")
        return Output(path.read_text(encoding="utf-8"), start + 2, end + 1, file=path)
    return Output("\n".join(content) + "\n", start + 2, end + 1)


def _fence_end(lines: list[str], start: int, rel: Path) -> int:
    """Index of the line closing the fence opened at ``lines[start]``."""
    opening = _FENCE.match(lines[start])
    marker = opening[2]
    for index in range(start + 1, len(lines)):
        stripped = lines[index].strip()
        if stripped.startswith(marker[0] * len(marker)) and stripped.strip(marker[0]) == "":
            return index
    raise PageError(f"{rel}:{start + 1}: fence is never closed")


def chains(blocks: list[Block]) -> list[Chain]:
    """Group continued blocks with the block they continue."""
    out: list[Chain] = []
    for block in blocks:
        if block.continues:
            if not out:
                raise PageError(f"{block.where}: marked cont but no block before it")
            previous = out[-1]
            if previous.language != block.language:
                raise PageError(
                    f"{block.where}: a {block.language} block cannot continue a {previous.language} chain "
                    f"(started at {previous.id})"
                )
            if block.skip_reason != previous.skip_reason:
                raise PageError(f"{block.where}: a continued block must be skipped exactly when its chain is")
            previous.blocks.append(block)
        else:
            out.append(Chain([block]))
    return out


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def normalise(text: str) -> str:
    """Output as compared: trailing spaces and surrounding blank lines do not count."""
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip("\n")
