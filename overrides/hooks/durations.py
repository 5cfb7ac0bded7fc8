"""MkDocs hook: every module's time, and the track's, computed from the pages, never typed.

The rule (CONTRIBUTING.md, "How long a module takes"): the module page's prose at
``PROSE_WORDS_PER_MINUTE``, its code and shown output (includes expanded, as the reader sees them)
at ``CODE_LINES_PER_MINUTE``, and its lab: the minutes the published notebook took to run (recorded
by `make outputs` in the notebook's metadata) plus ``MINUTES_PER_EXERCISE`` for each exercise.
Each module gets ``page.meta["time"]`` for its header; any page may write ``{{ time:5.3 }}`` or
``{{ time:track }}``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import markdown
from mkdocs.exceptions import PluginError
from mkdocs.utils.meta import get_data

PROSE_WORDS_PER_MINUTE = 200  # silent reading of English non-fiction averages 238 (Brysbaert, 2019); technical text is slower
CODE_LINES_PER_MINUTE = 20  # code is read slower than prose, shown output skimmed faster
MINUTES_PER_EXERCISE = 8
ROUND_TO_MINUTES = 5
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_WORD = re.compile(r"[A-Za-z0-9][\w'’.-]*")
_PLACEHOLDER = re.compile(r"\{\{ time:([\w.]+) \}\}")

_minutes: dict[str, int] = {}  # module number -> minutes, and "track"


def on_config(config):
    docs = Path(config.docs_dir)
    _minutes.clear()
    snippets = _snippet_expander(config)
    for page in sorted(docs.glob("modules/module-*.md")):
        meta_text = page.read_text(encoding="utf-8")
        body, meta = get_data(meta_text)
        if "time" in meta:
            raise PluginError(f"{page.relative_to(docs)}: remove `time:` from the front matter; it is computed (see CONTRIBUTING)")
        number = str(meta.get("module", ""))
        _minutes[number] = module_minutes(body, snippets, docs / "labs" / f"lab-{number}.ipynb")
    _minutes["track"] = sum(_minutes.values())
    return config


def module_minutes(body: str, expand, notebook: Path) -> int:
    prose, code = count(expand(body))
    lab = lab_minutes(notebook)
    total = prose / PROSE_WORDS_PER_MINUTE + code / CODE_LINES_PER_MINUTE + lab
    return int(math.ceil(total / ROUND_TO_MINUTES) * ROUND_TO_MINUTES)


def count(text: str) -> tuple[int, int]:
    """(words of prose, lines of code and output) in Markdown text."""
    words = lines = 0
    fence = None
    for line in _COMMENT.sub("", text).splitlines():
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match[1]
        elif fence is not None and line.strip().startswith(fence) and not line.strip().strip(fence[0]):
            fence = None
        elif fence is not None:
            lines += bool(line.strip())
        else:
            words += len(_WORD.findall(line))
    return words, lines


def lab_minutes(notebook: Path) -> float:
    """The lab's measured run plus its exercises' working time."""
    if not notebook.is_file():
        raise PluginError(f"{notebook}: no lab notebook (run `make outputs`)")
    data = json.loads(notebook.read_text(encoding="utf-8"))
    run = data.get("metadata", {}).get("cardfraud", {}).get("run_minutes")
    if run is None:
        raise PluginError(f"{notebook.name}: no measured run time in its metadata (run `make outputs`)")
    exercises = sum("raise NotImplementedError" in "".join(cell.get("source", "")) for cell in data["cells"] if cell["cell_type"] == "code")
    return run + MINUTES_PER_EXERCISE * exercises


def _snippet_expander(config):
    """pymdownx.snippets as mkdocs.yml configures it, applied to a whole page's text."""
    options = dict(config.mdx_configs.get("pymdownx.snippets", {}))
    root = Path(config.config_file_path).parent
    options["base_path"] = [str(root / p) for p in options.get("base_path", ["."])]
    md = markdown.Markdown(extensions=["pymdownx.snippets"], extension_configs={"pymdownx.snippets": options})
    return lambda text: "\n".join(md.preprocessors["snippet"].run(text.splitlines()))


def shown(minutes: int) -> str:
    return f"{minutes} min" if minutes < 120 else f"about {minutes / 60:.1f} hours".replace(".0 ", " ")


def on_page_markdown(markdown_text, page, config, files):
    number = str(page.meta.get("module", ""))
    if number in _minutes:
        page.meta["time"] = shown(_minutes[number])

    def fill(match: re.Match) -> str:
        if match[1] not in _minutes:
            raise PluginError(f"{page.file.src_uri}: {match[0]}: no module {match[1]!r}")
        return shown(_minutes[match[1]])

    return _PLACEHOLDER.sub(fill, markdown_text)
