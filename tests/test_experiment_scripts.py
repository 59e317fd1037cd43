"""Every benchmark script under experiments/ still imports against the current package API (they run
outside CI, for minutes to hours, so a renamed function would otherwise surface only then)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_imports_and_has_a_main(script: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(script.parent))  # as `python experiments/x.py` does: siblings import
    spec = importlib.util.spec_from_file_location(f"experiments_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports only: main() is behind `if __name__ == "__main__"`
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"
