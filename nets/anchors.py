"""Which anchors each output level uses, and the levels' strides (no Keras needed to read them)."""

# Anchor indices per output level, in the model's output order [P5, P4, P3]: the largest
# anchors go to the coarsest grid.
ANCHORS_MASK = ((6, 7, 8), (3, 4, 5), (0, 1, 2))
# Output strides of the levels, in the same order.
STRIDES = (32, 16, 8)
