"""The docs site: its generated reference tables are current, every page is in the nav, and
``mkdocs build --strict`` (broken links and anchors are errors) succeeds."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return _load("gen_reference", ROOT / "docs/gen_reference.py")


@pytest.fixture(scope="module")
def hooks():
    return _load("docs_hooks", ROOT / "docs/hooks.py")


def test_the_committed_reference_tables_are_what_the_code_says(gen):
    for page, markers, make in gen.BLOCKS:
        text = (ROOT / page).read_text(encoding="utf-8")
        assert gen.block(text, markers) == make(), f"{page} is stale: run python docs/gen_reference.py"
    assert gen.main(["--check"]) == 0


def test_every_command_and_every_config_model_has_a_table(gen):
    cli = gen.cli_markdown()
    for command in ("run", "general", "validate", "compress", "export", "bench", "pipeline"):
        assert f"#### `distill {command}`" in cli
    assert "#### `augment run`" in cli and "#### `augment text`" in cli
    assert "`--push-to-hub REPO_ID`" in cli and "`--set STEP.KEY=VALUE` | " in cli
    config = gen.config_markdown()
    for model in (
        "TeacherConfig",
        "DataConfig",
        "SplitConfig",
        "StudentConfig",
        "StageConfig",
        "ExportConfig",
    ):
        assert f"\n#### {model}\n" in config
    for model in (
        "ArchitectureBase",
        "BiLSTMConfig",
        "AugmentConfig",
        "BenchCfg",
        "RecipeConfig",
        "BenchOptions",
    ):
        assert f"\n#### {model}\n" in config
    from distill.objectives import OBJECTIVES

    assert all(f"#### Objective `{n}`" in config for n in OBJECTIVES.names())


def test_a_table_row_says_type_default_and_description(gen):
    config = gen.config_markdown()
    assert "| `max_length` | integer >= 1 | `128` |  |" in config
    assert "| `data` | [DataConfig](#dataconfig) | required |  |" in config
    assert "| `n_iter` (or `N`) | integer >= 1 | `20` |" in config
    assert "| `mode` | one of `off`, `logits`, `all` | `logits` |" in config
    cli = gen.cli_markdown()
    assert "| `--threads THREADS` |  | torch CPU threads (default: all cores) |" in cli
    assert "| `--private` | off | with --push-to-hub: create the repo private |" in cli


def test_a_stale_page_is_named_with_the_command_that_regenerates_it(gen, tmp_path, monkeypatch, capsys):
    page = tmp_path / "docs/cli.md"
    page.parent.mkdir()
    page.write_text(f"# x\n\n{gen.CLI[0]}\nhand-typed\n{gen.CLI[1]}\n\nrest\n")
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    monkeypatch.setattr(gen, "BLOCKS", [("docs/cli.md", gen.CLI, gen.cli_markdown)])
    assert gen.main(["--check"]) == 1
    assert "docs/cli.md; run python docs/gen_reference.py" in capsys.readouterr().err
    assert gen.main([]) == 0
    assert page.read_text() == f"# x\n\n{gen.CLI[0]}\n{gen.cli_markdown()}\n{gen.CLI[1]}\n\nrest\n"


def test_the_front_page_is_the_readme_with_its_links_into_the_site(hooks):
    assert hooks.front_page("[a](docs/cli.md#flags) [b](docs/) [c](#x) [d](https://e.org/docs/f)") == (
        "[a](cli.md#flags) [b](index.md) [c](#x) [d](https://e.org/docs/f)"
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    brought = [f.relative_to(ROOT).as_posix() for f in hooks.repo_files(readme, ROOT)]
    assert "experiments/reports/recipes/tinybert/report.md" in brought
    assert "experiments/reports/recipes/tinybert/pareto.png" in brought  # the page's plot comes along


def test_every_page_is_in_the_nav_and_the_readme_links_every_page():
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    in_nav = {next(iter(item.values())) for item in nav}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert in_nav == pages | {"index.md"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)", readme))
    assert linked == pages, f"README's Documentation list lacks {sorted(pages - linked)}"


def test_the_site_builds_with_strict_checks(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    site = tmp_path / "site"
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Quick start" in index and 'href="cli/"' in index  # README's docs/cli.md link, into the site
    assert (site / "experiments/reports/recipes/tang/pareto.png").is_file()
    assert not list(site.rglob("*.py"))  # the hooks and the generator are not pages
