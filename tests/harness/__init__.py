"""The harness that runs every code block of the site's pages (see CONTRIBUTING.md, "Code blocks").

- ``parse``: a page's fences and markers, read with markdown-it-py, as blocks and chains;
- ``includes``: ``--8<--`` lines expanded by pymdownx.snippets, with each line's origin;
- ``run``: a chain run in a fresh directory and process group (warm fork server or cold);
- ``outputs``: shown outputs and published files checked against a run, and rewritten;
- ``report``: the table of executed and skipped blocks per page;
- ``plugin``: the pytest plugin that wires them (options, fixtures, tree check, summary).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SNIPPETS = ROOT / "snippets"
