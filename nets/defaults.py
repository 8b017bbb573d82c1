"""The model's defaults, as the reference implementation has them (read by ``yolo_body`` and by
the options table, which cannot be imported from ``nets``)."""

DEFAULT_BACKBONE = "mobilenetv1"
DEFAULT_ALPHA = 1.0
# The 20 PASCAL VOC classes the published weights detect.
DEFAULT_NUM_CLASSES = 20
# Far above any detection dataset (LVIS has 1,203 classes); beyond it the heads exhaust memory.
MAX_NUM_CLASSES = 10_000
