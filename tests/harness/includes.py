"""``--8<--`` lines in a code block, expanded by pymdownx.snippets as the site expands them.

The preprocessor is configured from the site's own mkdocs.yml (base path, missing files fail),
so a test runs exactly the code the page shows. Each expanded line remembers where it came
from (``snippets/module-5.3/train.py:12``), for failure messages.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import markdown
from mkdocs.utils.yaml import yaml_load
from pymdownx.snippets import SnippetPreprocessor

INCLUDE = re.compile(r"""^\s*-{1,}8<-{1,}\s+(["'])(?P<spec>[^"']+)\1\s*$""")


class IncludeError(Exception):
    pass


@cache
def _preprocessor(root: Path) -> SnippetPreprocessor:
    """pymdownx.snippets configured exactly as ``root/mkdocs.yml`` configures it for the site."""
    with open(root / "mkdocs.yml", encoding="utf-8") as file:
        extensions = yaml_load(file).get("markdown_extensions", [])
    options = next((dict(e["pymdownx.snippets"] or {}) for e in extensions if isinstance(e, dict) and "pymdownx.snippets" in e), {})
    options["base_path"] = [str(root / p) for p in options.get("base_path", ["."])]
    md = markdown.Markdown(extensions=["pymdownx.snippets"], extension_configs={"pymdownx.snippets": options})
    return md.preprocessors["snippet"]


def snippet_file(spec: str) -> str:
    """The file an include names, without its ``:section`` or ``:start:end`` suffix."""
    return re.split(r":(?=[\w\-]+$|\d)", spec, maxsplit=1)[0]


def expand(code: str, root: Path, page: str, first_line: int) -> tuple[str, list[str]]:
    """``code`` (lines of ``page`` from ``first_line``) with includes expanded, and each line's origin."""
    out: list[str] = []
    origins: list[str] = []
    for number, line in enumerate(code.splitlines(), first_line):
        match = INCLUDE.match(line)
        if not match:
            out.append(line)
            origins.append(f"{page}:{number}")
            continue
        try:
            expanded = _preprocessor(root).run([line])
        except Exception as error:  # pymdownx raises SnippetMissingError for a missing file
            raise IncludeError(f"{page}:{number}: cannot include {match['spec']!r}: {error}") from error
        out.extend(expanded)
        origins.extend(_origins(root, match["spec"], expanded))
    return "\n".join(out) + "\n", origins


def _origins(root: Path, spec: str, lines: list[str]) -> list[str]:
    """Where each included line lives in its snippet file (searched in order)."""
    name = snippet_file(spec)
    path = next((Path(base) / name for base in _preprocessor(root).base_path if (Path(base) / name).is_file()), None)
    source = path.read_text(encoding="utf-8").splitlines() if path else []
    shown = path.relative_to(root) if path else name
    origins, cursor = [], 0
    for line in lines:
        for number in range(cursor, len(source)):
            if source[number] == line:
                cursor = number + 1
                origins.append(f"{shown}:{number + 1}")
                break
        else:
            origins.append(str(shown))
    return origins
