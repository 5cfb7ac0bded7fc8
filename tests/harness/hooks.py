"""The site's MkDocs hooks (overrides/hooks/), imported from their files as MkDocs imports them."""

from __future__ import annotations

import importlib.util

from tests.harness import ROOT


def load_hook(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "overrides" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
