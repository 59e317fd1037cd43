"""The layer that writes a model's logits, and a regression head that starts at the targets' mean.

A new one-output head predicts about 0 while STS-B's targets average 2.7 (0..5): Adam moves a bias
by at most about ``lr`` per step, so at fine-tuning learning rates the first hundreds of steps go
into the offset alone, and on a small task the model may stop before it learns anything else.
Starting the bias at the training mean starts the squared error at the baseline's (always
predicting the mean), which is what the sanity checks then compare against.
"""

from __future__ import annotations

import torch
from torch import nn


def saved_settings(model: nn.Module):
    """What a model's config.json is written from, where its task is recorded (``problem_type``,
    a multi-label model's ``label_thresholds``): a Hugging Face model's config, the BiLSTM's settings."""
    return getattr(model, "config", None) or getattr(model, "settings", None)


def output_layer(model: nn.Module, num_labels: int) -> nn.Linear:
    """The last ``nn.Linear`` (module order) with ``num_labels`` outputs: BERT's ``classifier``,
    RoBERTa's ``classifier.out_proj``, the BiLSTM's last layer."""
    found = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_labels]
    if not found:
        raise ValueError(f"{type(model).__name__} has no linear layer with {num_labels} outputs")
    return found[-1]


@torch.no_grad()
def start_at_mean(model: nn.Module, mean: float) -> None:
    """Set a one-output model's output bias to ``mean`` (its weights stay as they are)."""
    layer = output_layer(model, 1)
    if layer.bias is not None:
        layer.bias.fill_(mean)
