"""Where a stage gets the teacher's features: a live forward pass, or a disk cache.

Task distillation on augmented data runs the teacher over many times more text than the student
needs, every epoch and every run. The teacher is frozen and in eval mode, so its outputs depend
only on its weights and the token ids: they are computed once per (teacher weights, tokenized
dataset, feature request) fingerprint, saved under the cache folder, and reused across epochs and
runs. Logits are kept in fp32; embeddings, hidden states and scores (``mode: all``) in fp16.

The cache folder may be shared, so a cache file is loaded with ``weights_only=True`` (tensors,
lists and dicts only; torch 2.4-2.5 would otherwise unpickle, and so run, any object in it). A file
that does not load that way (a planted pickle, a truncated write) is logged as a warning and
recomputed, as a miss would be.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from torch import Tensor, nn

from distill.core.atomic import atomic_file
from distill.data.batching import Encoded, collate, eval_batches
from distill.models.features import FeatureRequest, Features, enable_capture, forward_features

log = logging.getLogger("distill")


class LiveTeacher:
    """Runs the teacher on each batch under ``inference_mode``; counts its forward passes."""

    def __init__(self, model: nn.Module, request: FeatureRequest) -> None:
        self.model, self.request, self.calls = model.eval(), request, 0
        if request.attn_layers or request.qkv_layers:
            enable_capture(model)

    def __call__(self, indices: list[int], batch: dict[str, Tensor]) -> Features:
        self.calls += 1
        with torch.inference_mode():
            feats = forward_features(self.model, batch, self.request)
        return feats.detached()  # inference tensors cannot enter autograd


def weights_digest(model: nn.Module) -> str:
    """A hash of every parameter and buffer (names, shapes, bytes)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cache_fingerprint(model: nn.Module, data: Encoded, request: FeatureRequest) -> str:
    h = hashlib.sha256(weights_digest(model).encode())
    h.update(json.dumps(request.__dict__, sort_keys=True).encode())
    h.update(json.dumps([data.input_ids, data.token_type_ids]).encode())
    return h.hexdigest()[:24]


def _unpad(feats: Features, lengths: list[int]) -> list[dict[str, object]]:
    """Per-example tensors without padding: logits fp32, the rest fp16."""
    rows = []
    for b, n in enumerate(lengths):
        row: dict[str, object] = {"logits": feats.logits[b].float().clone()}
        if feats.embeddings is not None:
            row["embeddings"] = feats.embeddings[b, :n].half().clone()  # (n, hidden)
        row["hidden"] = [h[b, :n].half().clone() for h in feats.hidden]
        row["attn_scores"] = [a[b, :, :n, :n].half().clone() for a in feats.attn_scores]  # (heads, n, n)
        if any(v is not None for v in feats.attn_valid):  # a windowed layer's defined scores: (1, n, n)
            row["attn_valid"] = [_valid_row(v, b, n) for v in feats.attn_valid]
        rows.append(row)
    return rows


def _valid_row(valid: Tensor | None, b: int, n: int) -> Tensor:
    """Example ``b``'s (1, n, n) bool mask of defined scores (all True where the layer has none)."""
    if valid is None:
        return torch.ones(1, n, n, dtype=torch.bool)
    return valid[b if valid.size(0) > 1 else 0, :1, :n, :n].clone()


def _pad(tensors: list[Tensor], width: int, square: bool) -> Tensor:
    """Stack per-example tensors, zero-padded to ``width`` tokens: (n, hidden) -> (batch, width,
    hidden), or with ``square`` (heads, n, n) -> (batch, heads, width, width)."""
    out = []
    for t in tensors:
        extra = width - t.size(-1 if square else 0)
        pad = [0, extra, 0, extra] if square else [0, 0, 0, extra]
        out.append(nn.functional.pad(t.float(), pad))
    return torch.stack(out)


class CachedTeacher:
    """Teacher features read from the disk cache, padded to each batch's width; never runs the teacher."""

    def __init__(self, rows: list[dict[str, object]], request: FeatureRequest) -> None:
        self.rows, self.request, self.calls = rows, request, 0

    def __call__(self, indices: list[int], batch: dict[str, Tensor]) -> Features:
        rows = [self.rows[i] for i in indices]
        mask = batch["attention_mask"]
        width, device = mask.size(1), mask.device
        n_hidden, n_attn = len(self.request.hidden_layers), len(self.request.attn_layers)
        return Features(
            logits=torch.stack([r["logits"] for r in rows]).to(device),
            mask=mask,
            embeddings=_pad([r["embeddings"] for r in rows], width, False).to(device)
            if self.request.embeddings
            else None,
            hidden=[_pad([r["hidden"][k] for r in rows], width, False).to(device) for k in range(n_hidden)],
            attn_scores=[
                _pad([r["attn_scores"][k] for r in rows], width, True).to(device) for k in range(n_attn)
            ],
            attn_valid=[
                (_pad([r["attn_valid"][k] for r in rows], width, True) > 0.5).to(device)
                if "attn_valid" in rows[0]
                else None
                for k in range(n_attn)
            ],
        )


def cacheable(request: FeatureRequest, mode: str) -> bool:
    """Whether ``mode`` (off | logits | all) covers everything ``request`` asks for (Q/K/V never)."""
    if mode == "off" or request.qkv_layers:
        return False
    intermediate = request.embeddings or request.hidden_layers or request.attn_layers
    return mode == "all" or not intermediate


def cached_teacher(
    model: nn.Module,
    data: Encoded,
    request: FeatureRequest,
    cache_dir: str | Path,
    device,
    batch_size: int = 64,
) -> tuple[CachedTeacher, int]:
    """Load the cached features for ``data``, computing and saving them on a miss.

    Returns the cache and the number of teacher forward passes it took (0 on a hit).
    """
    path = Path(cache_dir) / f"teacher-{cache_fingerprint(model, data, request)}.pt"
    if path.is_file():
        try:
            rows = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # anything but plain tensors, or a damaged file: never trusted
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            log.warning("teacher cache: %s is not a plain tensor file (%s); recomputing it", path, first)
        else:
            log.info("teacher cache: hit %s (%d examples, no teacher forward pass)", path, len(data))
            return CachedTeacher(rows, request), 0
    live = LiveTeacher(model, request)
    rows: list[dict[str, object]] = [{}] * len(data)
    for indices in eval_batches(data, batch_size):
        batch = {k: v.to(device) for k, v in collate(data, indices).items()}
        feats = live(indices, batch)
        for i, row in zip(indices, _unpad(feats, [len(data.input_ids[i]) for i in indices]), strict=True):
            rows[i] = {
                k: (v.cpu() if isinstance(v, Tensor) else [t.cpu() for t in v]) for k, v in row.items()
            }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as f:
        torch.save(rows, f)
    log.info("teacher cache: wrote %s (%d examples, %d teacher batches)", path, len(data), live.calls)
    return CachedTeacher(rows, request), live.calls
