"""`distill run --push-to-hub REPO_ID`: the repo id checked before training, the student folder
uploaded without what only the run needed (huggingface_hub.HfApi replaced: no network here)."""

from __future__ import annotations

import huggingface_hub
import pytest

from distill.cli import main
from distill.distillation.hub import LOCAL_ONLY
from tests.distill.test_run import configs


class FakeApi:
    calls: list = []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", kw))


def test_the_finished_student_is_uploaded_without_the_runs_own_files(
    tmp_path, tiny_encoder_dir, monkeypatch, capsys
):
    FakeApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    out = tmp_path / "run"
    argv = [
        "run",
        str(teacher),
        str(student),
        "--output-dir",
        str(out),
        "--push-to-hub",
        "me/tiny",
        "--private",
    ]
    assert main(argv) == 0
    assert "pushed to https://huggingface.co/me/tiny" in capsys.readouterr().out
    (create, upload) = FakeApi.calls
    assert create == ("create_repo", "me/tiny", {"private": True, "exist_ok": True, "repo_type": "model"})
    kw = upload[1]
    assert (
        kw["folder_path"] == str(out) and kw["repo_id"] == "me/tiny" and kw["ignore_patterns"] == LOCAL_ONLY
    )
    assert {"checkpoints/*", "run.log", "config.resolved.yaml"} <= set(LOCAL_ONLY)
    assert (out / "README.md").is_file() and (out / "config.json").is_file()  # what the upload carries


def test_a_bad_repo_id_is_refused_before_any_training(tmp_path, tiny_encoder_dir, capsys):
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    out = tmp_path / "run"
    assert main(["run", str(teacher), str(student), "--output-dir", str(out), "--push-to-hub", "a/b/c"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .startswith("error: --push-to-hub: 'a/b/c' is not a Hub repo id (")
    )
    assert not out.exists()


def test_a_failed_upload_says_where_the_student_is(tmp_path, tiny_encoder_dir, monkeypatch, capsys):
    class Offline(FakeApi):
        def create_repo(self, repo_id, **kw):
            raise ConnectionError("no network")

    monkeypatch.setattr(huggingface_hub, "HfApi", Offline)
    teacher, student = configs(tmp_path, tiny_encoder_dir)
    out = tmp_path / "run"
    assert (
        main(["run", str(teacher), str(student), "--output-dir", str(out), "--push-to-hub", "me/tiny"]) == 2
    )
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --push-to-hub me/tiny: the upload failed (no network); the student is saved in {out}"
    )
    assert (out / "metrics.json").is_file()


@pytest.fixture(autouse=True)
def _no_token(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
