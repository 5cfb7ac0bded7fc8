"""A strict build of a site, its warnings located at the page line they come from."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.harness.environment import VENV_BIN

# MkDocs names the page of a bad link but not its line.
_LINK_WARNING = re.compile(r"Doc file '(?P<doc>[^']+)' contains (?:a link|an absolute link|a link to an unrecognized) ?'?(?P<target>[^',]*)")


def strict_build(root: Path, site_dir: Path, env: dict[str, str]) -> list[str]:
    """Build ``root/mkdocs.yml`` with --strict into ``site_dir``; return its problems (none: it built)."""
    result = subprocess.run(
        [str(VENV_BIN / "mkdocs"), "build", "--strict", "--site-dir", str(site_dir)],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode == 0:
        return []
    problems = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line or "Error" in line]
    return [_locate(root, line) for line in problems] or result.stderr.splitlines()[-30:]


def _locate(root: Path, line: str) -> str:
    """``docs/page.md:12: <warning>`` when the warning is about a link that can be found on the page."""
    match = _LINK_WARNING.search(line)
    if match and match["target"] and (page := root / "docs" / match["doc"]).is_file():
        for number, text in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if match["target"] in text:
                return f"docs/{match['doc']}:{number}: {line.strip()}"
    return line.strip()
