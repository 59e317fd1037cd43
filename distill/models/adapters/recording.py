"""What recording attention modules write into (:class:`Sink`) and what a recording yields (:class:`Recording`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

    QKV = tuple[Tensor, Tensor, Tensor]


@dataclass
class Sink:
    """What one attention module records during a forward pass. ``plan[i]``: (layer, want scores,
    want Q/K/V) of the module's i-th call; a module called once per pass (every family but ALBERT) has
    one entry. ``valid[layer]``: where the scores are defined, when not everywhere (ModernBERT's local
    layers: inside the window), as a bool tensor broadcastable to (batch, heads, seq, seq)."""

    plan: list[tuple[int, bool, bool]]
    call: int = 0
    scores: dict[int, Tensor] = field(default_factory=dict)
    valid: dict[int, Tensor] = field(default_factory=dict)
    qkv: dict[int, QKV] = field(default_factory=dict)

    def next(self) -> tuple[int, bool, bool]:
        """This call's (layer, want scores, want Q/K/V); advances to the next call."""
        entry = self.plan[self.call % len(self.plan)]
        self.call += 1
        return entry


@dataclass
class Recording:
    """What :meth:`Adapter.record` yields; filled when the context exits, lists in layer order."""

    scores: list[Tensor] = field(default_factory=list)  # [(batch, heads, seq, seq)] pre-softmax
    valid: list[Tensor | None] = field(default_factory=list)  # per scores entry; None: defined everywhere
    qkv: list[QKV] = field(default_factory=list)  # [3 x (batch, heads, seq, head_dim)]
