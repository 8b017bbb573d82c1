"""The YOLOv4-lite model: ``yolo_body``, weight loading and the backbone registry."""
from nets.backbones import available_backbones, get_backbone, register_backbone
from nets.weights import LoadReport, WeightsMismatchError, load_weights, save_weights
from nets.yolo import DEFAULT_ANCHORS_MASK, yolo_body

__all__ = ["yolo_body", "load_weights", "save_weights", "LoadReport", "WeightsMismatchError",
           "available_backbones", "get_backbone", "register_backbone", "DEFAULT_ANCHORS_MASK"]
