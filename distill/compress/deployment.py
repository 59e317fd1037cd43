"""A model deployed as one measured kind: the files to serve and ``deploy.json`` saying how.

The pipeline's ``deploy`` step picks the kind (the bench step's recommendation: the fastest that
keeps the score bound on the machine where it ran, distill/compress/recommend.py) and calls
:func:`deploy_kind`, which writes a folder that :func:`load_deployment` turns back into the predict
function the benchmark timed and scored:

- an ONNX Runtime kind: ``onnx/``, a `distill export` of the model (the kind's graph, its INT8
  recipe through ``--int8``), every graph verified against PyTorch (the export's agreement bars);
- a PyTorch kind: ``model/``, the saved model as it is; its recipe (BF16 cast, autocast, dynamic
  INT8 with an engine, torch.compile, the [CLS]-only graph) is applied at load by the same code that
  built the benchmark's variant (:func:`distill.compress.variants.build_variant`).

``deploy.json`` names the kind, its runtime, device, recipe, the file to serve and the
recommendation's reason, and the figures bench measured for it, so what is served is what was
evaluated.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from distill.compress import kinds
from distill.core.atomic import atomic_dir
from distill.core.errors import ConfigError, DataError

DEPLOY_JSON = "deploy.json"


def onnx_file(kind: kinds.Kind) -> str:
    """The graph an ORT kind serves, as `distill export` names it."""
    return "model.int8.onnx" if kind.int8 else kinds.GRAPHS[kind.graph].file


def deploy_kind(
    model_dir: str | Path,
    out_dir: str | Path,
    kind_name: str,
    *,
    device: str = "cpu",
    reason: str = "",
    measured: dict[str, Any] | None = None,
    **export_options: Any,
) -> dict[str, Any]:
    """Write ``out_dir`` (atomically) serving ``model_dir`` as ``kind_name`` on ``device``; returns
    deploy.json. ``export_options``: :func:`distill.compress.api.export_model`'s (verification and
    calibration data, thresholds, opset, max_len) for an ORT kind; ``measured``: the bench figures."""
    from distill.compress.api import export_model

    kind = kinds.get(kind_name)
    if device not in kind.devices:
        raise ConfigError(f"kind {kind_name} does not run on {device} (it runs on {', '.join(kind.devices)})")
    if kind.runtime == "ort" and kind.int8 and kind.export is None:
        raise ConfigError(f"kind {kind_name}: its INT8 graph has no `distill export --int8` recipe to write")
    info: dict[str, Any] = {
        "kind": kind.name,
        "description": kind.description,
        "runtime": kind.runtime,
        "device": device,
        "recipe": kind.recipe,
        "engine": kind.engine,
        "compiled": kind.compiled,
        "graph": kind.graph,
        "why": reason,
        "measured": measured or {},
        "source": str(model_dir),
    }
    with atomic_dir(out_dir) as tmp:
        if kind.runtime == "ort":
            int8 = kind.export if kind.int8 else None
            export_model(model_dir, tmp / "onnx", optimize=kind.graph == "opt", int8=int8, **export_options)
            info["file"] = f"onnx/{onnx_file(kind)}"
            info["verify"] = json.loads((tmp / "onnx" / "verify.json").read_text(encoding="utf-8"))
        else:
            shutil.copytree(model_dir, tmp / "model", ignore=shutil.ignore_patterns("checkpoints"))
            info["file"] = "model"
        (tmp / DEPLOY_JSON).write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def load_deployment(folder: str | Path, threads: int = 1):
    """(predict, tokenizer, deploy.json) of a deployed folder: ``predict(ids, mask[, token_type_ids])``
    -> logits, numpy in and out, built as the benchmark built the kind."""
    folder = Path(folder)
    try:
        info = json.loads((folder / DEPLOY_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{folder}: not a deployed folder ({DEPLOY_JSON}: {e})") from None
    if info["runtime"] == "ort":
        from transformers import AutoTokenizer

        from distill.compress.export import ort_predict, ort_session
        from distill.compress.models import BILSTM_TYPE
        from students.word_tokenizer import WordTokenizer

        onnx = folder / "onnx"
        predict = ort_predict(ort_session(folder / info["file"], threads, info["device"]))
        bilstm = (
            json.loads((onnx / "config.json").read_text(encoding="utf-8")).get("model_type") == BILSTM_TYPE
        )
        tokenizer = (WordTokenizer if bilstm else AutoTokenizer).from_pretrained(onnx)
        return predict, tokenizer, info
    from distill.compress.variants import Source, build_variant, load_source

    with tempfile.TemporaryDirectory(prefix="distill-deploy-") as work:  # a torch kind writes nothing there
        loaded = load_source(Source(folder.name, str(folder / "model"), None, "student"), Path(work))
        built = build_variant(loaded, info["kind"], info["device"], threads, None)
    return built.predict, loaded.tokenizer, info
