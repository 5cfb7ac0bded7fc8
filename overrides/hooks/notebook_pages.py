"""MkDocs hook: removes from the lab notebook pages the scripts nbconvert adds but no lab uses.

mkdocs-jupyter renders a notebook with nbconvert's JupyterLab template, which embeds

- a loader for mermaid diagrams in notebook *outputs*, importing mermaid from cdnjs (a
  third-party host) when such an output exists, with its stylesheet;
- a MathJax configuration and a MathJax ``<script src="">`` (the plugin's MathJax URL is empty).

No lab has a mermaid output or math, so both are dead code on every lab page. The mermaid loader
also costs build time: its text contains "mermaid", which makes the mermaid2 plugin re-parse the
whole 700 KB page with BeautifulSoup. This hook runs before mermaid2 (higher priority) and
removes them. A notebook that does produce a mermaid output fails the build: its diagram would
need the CDN.
"""

from __future__ import annotations

import re

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

# nbconvert writes the two blocks one after the other, each between HTML comments.
_DEAD_BLOCKS = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mermaid configuration -->", re.S)


@event_priority(50)  # before mermaid2 (priority 0), so it never parses a lab page
def on_post_page(output, page, config):
    if not page.file.src_uri.endswith(".ipynb"):
        return output
    if 'class="jp-Mermaid"' in output:
        raise PluginError(
            f"{page.file.src_uri}: a cell outputs a mermaid diagram; nbconvert would load mermaid "
            "from a CDN. Put the diagram in the lab's Markdown page instead."
        )
    output, found = _DEAD_BLOCKS.subn("", output)
    if found != 1:
        raise PluginError(
            f"{page.file.src_uri}: expected nbconvert's MathJax and mermaid blocks once in "
            f"mkdocs-jupyter's output, found them {found} times; the template changed, "
            "update overrides/hooks/notebook_pages.py"
        )
    return output
