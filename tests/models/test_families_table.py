"""The README's supported-architectures matrix is what the adapters say (it is generated)."""

from __future__ import annotations

from pathlib import Path

from distill.compress import families_table
from distill.models.adapters import ADAPTERS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_holds_the_generated_matrix():
    text = README.read_text(encoding="utf-8")
    start = text.index(families_table.BEGIN) + len(families_table.BEGIN)
    end = text.index(families_table.END)
    assert text[start:end].strip() == families_table.markdown(), (
        "README.md's matrix is stale: run python -m distill.compress.families_table --readme README.md"
    )


def test_every_family_has_a_row_and_every_no_its_reason():
    table = families_table.markdown()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| family")]
    assert [r.split(" | ")[0].removeprefix("| ") for r in rows] == [
        ADAPTERS.get(n).title for n in ADAPTERS.names()
    ]
    n_no = table.count("| no [")
    for i in range(1, n_no + 1):
        assert f"\n[{i}] " in table
    bert = next(r for r in rows if r.startswith("| BERT |"))
    assert "no [" not in bert  # a BERT meets every deployment path
