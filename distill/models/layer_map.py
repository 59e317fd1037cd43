"""Which teacher layer each student layer learns from.

Layers are numbered as in the TinyBERT paper: 0 is the embedding layer, 1..N the Transformer
layers. A map is a list ``teacher_layer[m-1]`` for student layers ``m = 1..M``.
"""

from __future__ import annotations

from distill.core.errors import ConfigError


def uniform_map(student_layers: int, teacher_layers: int) -> list[int]:
    """TinyBERT's uniform strategy ``g(m) = m * N / M``, rounded half up when N/M is fractional.

    Examples: 4 -> 12 layers gives [3, 6, 9, 12]; 4 -> 6 gives [2, 3, 5, 6]; 3 -> 6 gives [2, 4, 6].
    """
    return [int(m * teacher_layers / student_layers + 0.5) for m in range(1, student_layers + 1)]


def last_map(student_layers: int, teacher_layers: int) -> list[int]:
    """The teacher's last M layers, in order (the "last-k" strategy)."""
    return list(range(teacher_layers - student_layers + 1, teacher_layers + 1))


def resolve_layer_map(
    spec: str | list[int],
    student_layers: int,
    teacher_layers: int,
    source: str = "student.yaml",
    key: str = "layer_map",
) -> list[int]:
    """Turn the ``layer_map`` key (or another map-valued ``key``) into a validated list; a bad map
    is a ConfigError."""
    if student_layers > teacher_layers:
        raise ConfigError(
            f"{source}: {key}: the student has {student_layers} layers, more than the teacher's "
            f"{teacher_layers}; each student layer needs its own teacher layer"
        )
    if spec in ("uniform", "importance"):
        # importance: chosen from the teacher's activations once it has run (layer_importance.py);
        # until then the uniform map stands in, and every check made with it holds, since all of a
        # teacher's layers have one structure
        return uniform_map(student_layers, teacher_layers)
    if spec == "last":
        return last_map(student_layers, teacher_layers)
    layers = list(spec)
    if len(layers) != student_layers:
        raise ConfigError(
            f"{source}: {key}: {len(layers)} entries for a student with {student_layers} layers, got {layers}"
        )
    for i, t in enumerate(layers):
        if not 1 <= t <= teacher_layers:
            raise ConfigError(
                f"{source}: {key}.{i}: teacher layer {t} does not exist; "
                f"expected 1..{teacher_layers}, got {layers}"
            )
    if any(b <= a for a, b in zip(layers, layers[1:], strict=False)):
        raise ConfigError(f"{source}: {key}: teacher layers must increase, got {layers}")
    return layers
