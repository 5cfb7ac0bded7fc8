"""MkDocs hook: pages write ``{{ repo_url }}`` and ``{{ site_url }}``; the build fills in mkdocs.yml's values.

The repository's and the site's addresses live in one place, mkdocs.yml. The Get started page's
commands use them, and the test that plays the reader runs those commands with the same
substitution (``fill``), so what it runs is what the page says.
"""

from __future__ import annotations

import re

from mkdocs.exceptions import PluginError

PLACEHOLDER = re.compile(r"\{\{ (repo_url|site_url) \}\}")


def fill(text: str, config, where: str = "") -> str:
    def value(match: re.Match) -> str:
        found = config.get(match[1])
        if not found:
            raise PluginError(f"{where}: {match[0]} is used but mkdocs.yml sets no {match[1]}")
        return str(found)

    return PLACEHOLDER.sub(value, text)


def on_page_markdown(markdown, page, config, files):
    return fill(markdown, config, page.file.src_uri)
