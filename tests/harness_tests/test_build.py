"""The strict build names a broken link at its page line; the built pages show the fences the parser read."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.harness.build import strict_build
from tests.harness.environment import block_environment
from tests.harness.parse import fence_lines, pages

FIXTURES = Path(__file__).parent / "fixtures"


def test_the_fixture_site_builds_and_shows_every_fence_the_parser_found(tmp_path, private_home):
    assert strict_build(FIXTURES, tmp_path, block_environment(private_home)) == []
    for page in pages(FIXTURES):
        html = (tmp_path / page.relative_to(FIXTURES / "docs")).with_suffix("") / "index.html"
        if page.name == "index.md":
            html = tmp_path / "index.html"
        assert html.read_text(encoding="utf-8").count("<pre") == len(fence_lines(page)), page.name


def test_a_broken_link_fails_the_build_at_its_line(tmp_path, private_home):
    site = tmp_path / "site"
    shutil.copytree(FIXTURES, site)
    (site / "docs" / "broken.md").write_text("# Broken\n\nSee [the setup](setup.md).\n", encoding="utf-8")
    problems = strict_build(site, tmp_path / "out", block_environment(private_home))
    assert any(p.startswith("docs/broken.md:3: WARNING") and "setup.md" in p for p in problems), problems
