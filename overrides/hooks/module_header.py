"""MkDocs hook: fills the module header from each module page's front matter, under its title.

A module page declares ``module``, ``complexity``, ``time``, ``prerequisites``
and ``tools`` in its front matter. The versions shown under "Tested with" are
read from requirements.txt at build time, never typed by hand, so the header
always names the versions CI ran the page's code against.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.utils.meta import get_data

REQUIRED_MODULE_KEYS = ("module", "complexity", "time", "prerequisites", "tools", "description")
COMPLEXITIES = ("BEGINNER", "MEDIUM", "COMPLEX")
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")

_pins: dict[str, str] = {}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(requirements: Path) -> dict[str, str]:
    """``{normalised package name: version}`` for every ``name==version`` line."""
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[_normalise(match[1])] = match[2]
    return pins


def on_config(config):
    _pins.clear()
    _pins.update(read_pins(Path(config.config_file_path).parent / "requirements.txt"))
    return config


def on_page_markdown(markdown, page, config, files):
    meta = page.meta
    if "module" not in meta:
        return markdown
    where = page.file.src_uri
    missing = [key for key in REQUIRED_MODULE_KEYS if key not in meta]
    if missing:
        raise PluginError(f"{where}: front matter lacks {', '.join(missing)}")
    if meta["complexity"] not in COMPLEXITIES:
        raise PluginError(f"{where}: complexity must be one of {COMPLEXITIES}, got {meta['complexity']!r}")
    tested_with = []
    for tool in meta["tools"]:
        version = _pins.get(_normalise(tool))
        if version is None:
            raise PluginError(f"{where}: tool {tool!r} is not pinned with == in requirements.txt")
        tested_with.append({"name": tool, "version": version})
    meta["tested_with"] = tested_with
    meta["prerequisite_links"] = [_prerequisite(item, page, files, config) for item in meta["prerequisites"]]
    return markdown


def on_page_content(html, page, config, files):
    """A module page starts with its title and, under it, the header (partials/module-header.html).
    Material's content template then writes no title of its own: the page has an <h1>."""
    if "module" not in page.meta:
        return html
    header = config.theme.get_env().get_template("partials/module-header.html").render(page=page, config=config)
    return f"<h1 data-search-exclude>{page.title}</h1>\n{header}\n{html}"


def _prerequisite(item: str, page, files, config) -> dict:
    """A prerequisite is a page of this site (``*.md``, linked, titled from its front matter) or plain text."""
    if not item.endswith(".md"):
        return {"title": item, "url": None}
    target_uri = posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri), item))
    target = files.get_file_from_path(target_uri)
    if target is None:
        raise PluginError(f"{page.file.src_uri}: prerequisite {item!r} is not a page of this site")
    _, target_meta = get_data(Path(target.abs_src_path).read_text(encoding="utf-8"))
    number = target_meta.get("module")
    title = target_meta.get("title", target_uri)
    return {"title": f"{number} {title}" if number else title, "url": target.url_relative_to(page.file)}
