"""The lock files agree with the .in files and with each other; the upgrade's rules and report.

Fast: no resolve, no network. `make lock` and `make upgrade` themselves are in .ci/pins.py.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib

import pytest

from tests.harness import ROOT

_spec = importlib.util.spec_from_file_location("pins", ROOT / ".ci" / "pins.py")
pins = sys.modules.setdefault("pins", importlib.util.module_from_spec(_spec))  # dataclasses look their module up
_spec.loader.exec_module(pins)


def _lock(name: str) -> dict[str, tuple[str, str]]:
    return pins.read_lock((ROOT / name).read_text(encoding="utf-8"))


def test_learner_lock_is_a_subset_of_the_full_lock_with_the_same_versions():
    everything, learner = _lock(pins.ALL_LOCK), _lock(pins.LEARNER_LOCK)
    missing = sorted(set(learner) - set(everything))
    differ = sorted(f"{n}: {learner[n][1]} (learner) vs {everything[n][1]}" for n in set(learner) & set(everything) if learner[n] != everything[n])
    assert not missing and not differ, f"not in requirements.txt: {missing}; other versions: {differ} (run `make lock`)"


@pytest.mark.parametrize("in_file, lock_file", [(pins.ALL_IN, pins.ALL_LOCK), (pins.LEARNER_IN, pins.LEARNER_LOCK)])
def test_every_root_is_locked_at_its_pin(in_file, lock_file):
    locked = _lock(lock_file)
    problems = []
    for requirement in pins.read_in(ROOT / in_file):
        name = pins.canonical(requirement.name)
        pin = pins._PIN.search(requirement.spec)
        if name not in locked:
            problems.append(f"{requirement.name} ({requirement.source}) is not in {lock_file}")
        elif pin and locked[name][1] != pin[1]:
            problems.append(f"{requirement.name}: {requirement.source} pins {pin[1]}, {lock_file} has {locked[name][1]}")
    assert not problems, "\n".join(problems) + "\nrun `make lock`"


def test_the_package_declares_only_what_the_learner_install_has():
    """pyproject.toml's dependencies are roots of the reader's install, unpinned there (the pins live in the locks)."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    roots = {pins.canonical(r.name) for r in pins.read_in(ROOT / pins.LEARNER_IN)}
    assert dependencies and all(d.isidentifier() or d.replace("-", "_").isidentifier() for d in dependencies), dependencies
    assert {pins.canonical(d) for d in dependencies} <= roots


def test_requirements_in_includes_the_learner_roots():
    lines = (ROOT / pins.ALL_IN).read_text(encoding="utf-8").splitlines()
    assert f"-r {pins.LEARNER_IN}" in lines


def test_relax_moves_pins_and_keeps_real_constraints():
    text = "\n".join([
        "# a comment==1.0",
        "redis==7.4.1",
        "feast[redis] == 0.67.0  # the online store",
        "pandas>=2,<3",
        "numpy==2.4.6  # hold: 2.5 changes the printed floats of 5.1",
        "-r other.in",
    ])
    assert pins.relax(text).splitlines() == [
        "# a comment==1.0",
        "redis>=7.4.1",
        "feast[redis] >=0.67.0  # the online store",
        "pandas>=2,<3",
        "numpy==2.4.6  # hold: 2.5 changes the printed floats of 5.1",
        "-r other.in",
    ]
    assert pins.repin(text, {"redis": "8.1.0", "feast": "0.68.0", "numpy": "2.4.6", "pandas": "2.3.3"}).splitlines()[1:3] == [
        "redis==8.1.0",
        "feast[redis] ==0.68.0  # the online store",
    ]


OLD_LOCK = """# header
mlflow==3.17.2
msgspec==0.22.0
PyYAML==6.0.4
redis==7.4.1
six==1.17.0
"""
NEW_LOCK = """# header
mlflow==3.17.2
msgspec==0.23.0
PyYAML==6.0.4
redis==8.1.0
uuid7==0.1.0
"""
JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_codeblocks" name="test_block[docs/modules/module-5.2-feature-stores.md:930]" time="3.1">
<failure message="x">docs/modules/module-5.2-feature-stores.md:951 `store = FeatureStore(repo_path=".")`: the block raised or exited 1
--- stderr (last 40 lines) ---
Traceback (most recent call last):
  File "/tmp/harness-1/block.py", line 22, in &lt;module&gt;
pydantic_core._pydantic_core.ValidationError: 1 validation error for RedisOnlineStoreConfig
  connection_string
    Input should be a valid string
--- stdout (last 10 lines) ---
ok</failure></testcase>
<testcase classname="tests.test_codeblocks" name="test_block[docs/modules/module-5.1-mlops-fundamentals.md:10]" time="1.0"/>
<!-- pytest writes a control character that XML 1.0 cannot hold as #x1B -->
<testcase classname="tests.test_labs" name="test_notebook_runs[lab-5.2.py]" time="9.0">
<failure message="x">docs/labs/lab-5.2.ipynb: cell 7 raised (source: snippets/labs/lab-5.2.py)
#x1B[0;31mKeyError#x1B[0m: 'connection_string'</failure></testcase>
<testcase classname="tests.test_site" name="test_sitemap_and_404_exist" time="0.1">
<failure message="AssertionError: assert False">def test_sitemap_and_404_exist(built_site):
&gt;       assert (built_site / "404.html").is_file()
E       AssertionError: assert False

tests/test_site.py:123: AssertionError</failure></testcase>
</testsuite></testsuites>"""
NUMSTAT = "3\t3\tdocs/modules/module-5.2-feature-stores.md\n12\t12\tdocs/labs/lab-5.2.ipynb\n"
DIFF = """diff --git a/docs/modules/module-5.2-feature-stores.md b/docs/modules/module-5.2-feature-stores.md
--- a/docs/modules/module-5.2-feature-stores.md
+++ b/docs/modules/module-5.2-feature-stores.md
@@ -960 +960 @@
-online store: redis 7.4.1
+online store: redis 8.1.0
"""
PAGES = {
    "docs/modules/module-5.2-feature-stores.md": "intro\nRedis 7 and later speak RESP3.\nimport redis\nredis.Redis(...)\nSince redis-py 5.0, hiredis is optional.\n",
    "docs/modules/module-5.3-model-training.md": "no mention here\nmsgspec is not named on pages usually: msgspec\n",
    "snippets/labs/lab-5.1.py": "import yaml\n",
}


def _report() -> str:
    return pins.make_report(
        OLD_LOCK, NEW_LOCK,
        direct={"redis": "requirements-learner.in", "mlflow": "requirements-learner.in"},
        junit_xml=JUNIT, numstat=NUMSTAT, diff=DIFF, pages=PAGES,
        imports={"redis": ["redis"], "msgspec": ["msgspec"], "pyyaml": ["yaml"]},
    )


def test_report_lists_moved_added_and_removed_packages():
    report = _report()
    assert "| redis | 7.4.1 | 8.1.0 | requirements-learner.in |" in report
    assert "| msgspec | 0.22.0 | 0.23.0 | (pulled in) |" in report
    assert "mlflow" not in report.split("### Packages moved")[1].split("###")[0]  # did not move
    assert "Added: uuid7 0.1.0." in report and "Removed: six 1.17.0." in report
    assert report.startswith("## Dependency upgrade\n\n2 packages moved (1 named in the .in files), 1 added, 1 removed; **2 blocks broken**")


def test_report_names_broken_blocks_by_page_line_and_the_errors_last_line():
    blocks = _report().split("### Blocks broken")[1].split("###")[0]
    assert (
        "- `docs/modules/module-5.2-feature-stores.md:951`: `pydantic_core._pydantic_core.ValidationError: 1 validation error "
        "for RedisOnlineStoreConfig · connection_string · Input should be a valid string`"
    ) in blocks
    assert "- `docs/labs/lab-5.2.ipynb: cell 7`: `KeyError: 'connection_string'`" in blocks
    assert "module-5.1" not in blocks  # it passed
    others = _report().split("### Other failing tests")[1].split("###")[0]
    assert "`tests/test_site.py::test_sitemap_and_404_exist`: `AssertionError: assert False`" in others


def test_report_summarises_changed_outputs_per_file():
    changed = _report().split("### Shown outputs changed")[1].split("### Prose")[0]
    assert "| `docs/modules/module-5.2-feature-stores.md` | 3 | 3 |" in changed
    assert "| `docs/labs/lab-5.2.ipynb` | 12 | 12 |" in changed
    assert "+online store: redis 8.1.0" in changed


def test_report_points_at_prose_naming_a_moved_package():
    prose = _report().split("### Prose to reread")[1]
    assert "**redis** 7.4.1 -> 8.1.0" in prose
    assert "- `docs/modules/module-5.2-feature-stores.md:2`: Redis 7 and later speak RESP3." in prose
    assert "- `docs/modules/module-5.2-feature-stores.md:5` (keep true: says since/new in): Since redis-py 5.0" in prose
    assert "named without a version on: `docs/modules/module-5.2-feature-stores.md` (lines 3, 4)" in prose
    assert "**msgspec** 0.22.0 -> 0.23.0" in prose and "module-5.3-model-training.md` (lines 2)" in prose
    assert "lab-5.1.py" not in prose  # PyYAML did not move


def test_report_without_changes_says_so():
    report = pins.make_report(OLD_LOCK, OLD_LOCK, direct={}, junit_xml="<testsuites/>", numstat="", pages=PAGES, imports={})
    assert "0 packages moved" in report and "no block broken" in report
    assert "None: every block and lab ran." in report
    assert "None: every shown output is what the new versions print." in report
    assert "No page names a package that moved." in report
