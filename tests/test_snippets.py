"""Every file under snippets/ is shown by a page or used by code a page runs."""

from __future__ import annotations

import ast
import re

from tests.harness import ROOT, SNIPPETS
from tests.harness.includes import snippet_file
from tests.harness.parse import page_blocks, pages
from tests.harness.labs import lab_sources

_INCLUDE = re.compile(r"""-{1,}8<-{1,}\s+(["'])(?P<spec>[^"']+)\1""")
IGNORED = {"__pycache__"}


def _included_files() -> set:
    """Files a page includes with --8<--, and what those files include in turn."""
    found, queue = set(), [p for p in pages()]
    while queue:
        text = queue.pop().read_text(encoding="utf-8", errors="replace")
        for match in _INCLUDE.finditer(text):
            path = SNIPPETS / snippet_file(match["spec"])
            if path.is_file() and path not in found:
                found.add(path)
                queue.append(path)
    return found


def _imported_modules(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _module_files(name: str) -> list:
    """snippets/ files that importing ``name`` executes (each package's __init__ on the way)."""
    parts, files = name.split("."), []
    for depth in range(1, len(parts) + 1):
        base = SNIPPETS.joinpath(*parts[:depth])
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                files.append(candidate)
    return files


def test_no_orphan_snippets():
    used = _included_files()
    code = [block.code for page in pages() for block in page_blocks(page) if block.language == "python"]
    code += [lab.read_text(encoding="utf-8") for lab in lab_sources()]
    code += [p.read_text(encoding="utf-8") for p in used if p.suffix == ".py"]
    queue = [module for text in code for module in _imported_modules(text)]
    while queue:
        for path in _module_files(queue.pop()):
            if path not in used:
                used.add(path)
                queue.extend(_imported_modules(path.read_text(encoding="utf-8")))
    orphans = sorted(
        str(p.relative_to(ROOT))
        for p in SNIPPETS.rglob("*")
        if p.is_file() and not IGNORED.intersection(p.parts) and p not in used
    )
    assert not orphans, "files under snippets/ that no page includes or imports (delete them or use them):\n" + "\n".join(orphans)
