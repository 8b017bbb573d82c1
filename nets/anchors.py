"""Which anchors each output level uses, the levels' strides and the input sizes they allow
(no Keras needed to read them)."""

from __future__ import annotations

from nets.errors import ModelConfigError

# Anchor indices per output level, in the model's output order [P5, P4, P3]: the largest
# anchors go to the coarsest grid.
ANCHORS_MASK = ((6, 7, 8), (3, 4, 5), (0, 1, 2))
# Output strides of the levels, in the same order.
STRIDES = (32, 16, 8)
# Every input side must be a multiple of the coarsest stride.
INPUT_MULTIPLE = max(STRIDES)

# Raw width/height logits are clipped here before exp(): a diverging training step cannot
# produce inf boxes, and no real box is anywhere near exp(10) times its anchor.
MAX_LOG_WH = 10.0
# Per anchor: 4 box values, then objectness, then one score per class.
BOX_AND_OBJECTNESS = 5


def check_input_sides(
    height: int | None, width: int | None, error: type[Exception] = ModelConfigError
) -> None:
    """Raise ``error`` unless every given side (None: any size) is a positive multiple of
    :data:`INPUT_MULTIPLE`: the one rule for the model and the ``--input-size`` flag."""
    for side in (height, width):
        if side is not None and (int(side) <= 0 or int(side) % INPUT_MULTIPLE):
            raise error(
                f"input size must be a positive multiple of {INPUT_MULTIPLE}, got {height}x{width}"
            )
