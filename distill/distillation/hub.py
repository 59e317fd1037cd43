"""``distill run --push-to-hub REPO_ID``: the finished student folder to the Hugging Face Hub.

What goes up is what a user of the model needs: the weights, config, tokenizer, the model card
(README.md) and metrics.json; what only the run needed stays local (checkpoints, the resume state,
run.log, the tracking files, config.resolved.yaml with its local paths). The repo id is checked
before any training; the upload itself needs the network and a token (``hf auth login`` or
``HF_TOKEN``), and a failed upload leaves the run's folder complete (exit 2, the reason printed).
Not exercised offline: the tests replace ``huggingface_hub.HfApi``.
"""

from __future__ import annotations

from pathlib import Path

from distill.core.errors import ConfigError, OutputError, first_line

LOCAL_ONLY = ["checkpoints/*", "run.log", "metrics.jsonl", "tensorboard/*", "config.resolved.yaml", ".*"]


def check_repo_id(repo_id: str) -> None:
    """A ConfigError for a repo id the Hub would refuse (``org/name``, letters, digits, ``-_.``)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        first = str(e).strip().splitlines()[0]
        raise ConfigError(f"--push-to-hub: {repo_id!r} is not a Hub repo id ({first})") from None


def push_to_hub(folder: Path, repo_id: str, private: bool = False) -> str:
    """Create (or reuse) the model repo and upload ``folder`` but :data:`LOCAL_ONLY`; its URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="model",
            ignore_patterns=LOCAL_ONLY,
            commit_message="distill-kit: distilled student",
        )
    except Exception as e:  # network, auth, quota: the run itself is done and saved
        first = first_line(e)
        raise OutputError(
            f"--push-to-hub {repo_id}: the upload failed ({first}); the student is saved in {folder}"
        ) from None
    return str(url)
