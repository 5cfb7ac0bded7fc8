"""MkDocs hook: mermaid2's per-page step, done on the page's text instead of a parse tree.

With superfences' custom fence (our setup), the only thing mermaid2 does per page is, when the
page has a diagram (``<pre class="mermaid"><code>``), append two scripts to ``<body>``: its
``javascript`` setting and ``window.mermaidConfig = {default: <arguments>}``. It does that by
parsing and re-serialising the whole page with BeautifulSoup's pure-Python html.parser, which on
the long module pages took a third of the strict build (about 3 s of 10).

This hook swaps that one handler, in mermaid2's own registration, for the same insertion done on
the string, built from mermaid2's own settings (javascript path, arguments) and its own
JavaScript serialiser. mermaid2 still configures itself and provides the fence.
``tests/test_site.py`` checks that both give the same scripts, and fails when the installed
mermaid2 is not the version in WRITTEN_FOR, to have the swap checked again. Measured: a strict build
takes about 2 s longer with mermaid2's own handler.
"""

from __future__ import annotations

import functools
import posixpath
import re

from mermaid2 import pyjs
from mkdocs.exceptions import PluginError

WRITTEN_FOR = {"mkdocs-mermaid2-plugin": "1.2.3"}
# What fence_mermaid_custom writes, matched as mermaid2's own selector "pre.mermaid code" would.
DIAGRAM = re.compile(r'<pre\b[^>]*\bclass="(?:[^"]*\s)?mermaid(?:\s[^"]*)?"[^>]*>\s*<code\b')


def on_config(config):
    mermaid2 = config.plugins["mermaid2"]
    if not mermaid2.activate_custom_loader or mermaid2.javascript.startswith("http"):
        raise PluginError(
            "overrides/hooks/mermaid_scripts.py reproduces mermaid2 for a local javascript file "
            "and superfences' fence_mermaid_custom only; mkdocs.yml uses something else"
        )
    handlers = config.plugins.events["post_page"]
    handlers[handlers.index(mermaid2.on_post_page)] = functools.partial(append_mermaid_scripts, mermaid2)


def append_mermaid_scripts(mermaid2, output: str, page, **kwargs) -> str:
    """What ``mermaid2``'s ``on_post_page`` adds to a page with a diagram, and nothing else."""
    if not DIAGRAM.search(output):
        return output
    src = posixpath.relpath(mermaid2.javascript, posixpath.dirname(page.url))
    arguments = dict(mermaid2.mermaid_args, startOnLoad=False)
    scripts = (
        f'<script src="{src}"></script>'
        f"<script>window.mermaidConfig = {{default: {pyjs.dumps(arguments)}}};</script>"
    )
    before, body_end, after = output.rpartition("</body>")
    return before + scripts + body_end + after
