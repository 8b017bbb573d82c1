"""The YOLOv4-lite model: ``yolo_body``, weight files and the backbone registry.

The registry, the anchor layout and the errors are plain Python; the names that need Keras
(``yolo_body``, ``load_weights``, ...) are imported on first use, so ``import nets`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nets.anchors import ANCHORS_MASK, STRIDES
from nets.backbones import (
    BackboneSpec,
    available_backbones,
    backbone_specs,
    get_backbone,
    register_backbone,
)
from nets.errors import ModelConfigError, UnknownBackboneError, UserError, WeightsMismatchError

if TYPE_CHECKING:  # type checkers see the lazy names' real signatures
    from nets.weights import LoadReport, load_weights, save_weights
    from nets.yolo import yolo_body

_LAZY = {
    "yolo_body": "nets.yolo",
    "load_weights": "nets.weights",
    "save_weights": "nets.weights",
    "LoadReport": "nets.weights",
}

__all__ = [
    "ANCHORS_MASK",
    "STRIDES",
    "BackboneSpec",
    "LoadReport",
    "ModelConfigError",
    "UnknownBackboneError",
    "UserError",
    "WeightsMismatchError",
    "available_backbones",
    "backbone_specs",
    "get_backbone",
    "load_weights",
    "register_backbone",
    "save_weights",
    "yolo_body",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nets' has no attribute {name!r}")
