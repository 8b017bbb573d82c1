"""YOLOv4-lite neck (SPP + PANet of depthwise-separable blocks) and the three YOLO heads."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from nets.anchors import ANCHORS_MASK, check_input_sides
from nets.backbones import get_backbone
from nets.defaults import DEFAULT_ALPHA, DEFAULT_BACKBONE, DEFAULT_NUM_CLASSES, MAX_NUM_CLASSES
from nets.errors import ModelConfigError
from nets.head import build_head
from nets.layers import conv_bn_act, conv_layer_name, depthwise_separable

# The neck blocks that read the backbone's stride 8, 16 and 32 outputs; everything their
# convolutions depend on is the backbone (what freezing freezes).
ENTRY_BLOCKS = ("p3_lateral", "p4_lateral", "p5_pre_1")


def _five_convs(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    """CBL n, DWB 2n, CBL n, DWB 2n, CBL n."""
    x = conv_bn_act(x, filters, name=f"{name}_1")
    x = depthwise_separable(x, filters * 2, name=f"{name}_2")
    x = conv_bn_act(x, filters, name=f"{name}_3")
    x = depthwise_separable(x, filters * 2, name=f"{name}_4")
    return conv_bn_act(x, filters, name=f"{name}_5")


def yolo_neck_and_heads(
    feat8: keras.KerasTensor,
    feat16: keras.KerasTensor,
    feat32: keras.KerasTensor,
    num_anchors_per_level: int,
    num_classes: int,
    alpha: float = 1.0,
) -> list[keras.KerasTensor]:
    """SPP + PANet over three feature maps; returns raw head outputs [P5, P4, P3].

    Layers are created in the reference implementation's order, so the functional graph, and
    hence Keras' depth-sorted layer order, matches the reference weight files.
    """

    def ch(n: int) -> int:
        return int(n * alpha)

    num_outputs = num_anchors_per_level * (num_classes + 5)

    p5 = conv_bn_act(feat32, ch(512), name=ENTRY_BLOCKS[2])
    p5 = depthwise_separable(p5, ch(1024), name="p5_pre_2")
    p5 = conv_bn_act(p5, ch(512), name="p5_pre_3")
    pools = [
        layers.MaxPooling2D(k, strides=1, padding="same", name=f"spp_pool{k}")(p5)
        for k in (13, 9, 5)
    ]
    p5 = layers.Concatenate(name="spp_concat")(pools + [p5])
    p5 = conv_bn_act(p5, ch(512), name="p5_post_1")
    p5 = depthwise_separable(p5, ch(1024), name="p5_post_2")
    p5 = conv_bn_act(p5, ch(512), name="p5_post_3")

    p5_up = conv_bn_act(p5, ch(256), name="p5_up")
    p5_up = layers.UpSampling2D(2, name="p5_up_resize")(p5_up)
    p4 = conv_bn_act(feat16, ch(256), name=ENTRY_BLOCKS[1])
    p4 = layers.Concatenate(name="p4_concat")([p4, p5_up])
    p4 = _five_convs(p4, ch(256), name="p4_td")

    p4_up = conv_bn_act(p4, ch(128), name="p4_up")
    p4_up = layers.UpSampling2D(2, name="p4_up_resize")(p4_up)
    p3 = conv_bn_act(feat8, ch(128), name=ENTRY_BLOCKS[0])
    p3 = layers.Concatenate(name="p3_concat")([p3, p4_up])
    p3 = _five_convs(p3, ch(128), name="p3_td")
    out_p3 = build_head(p3, ch(256), num_outputs, "p3")

    p3_down = depthwise_separable(p3, ch(256), strides=2, name="p3_down")
    p4 = layers.Concatenate(name="p4_bu_concat")([p3_down, p4])
    p4 = _five_convs(p4, ch(256), name="p4_bu")
    out_p4 = build_head(p4, ch(512), num_outputs, "p4")

    p4_down = depthwise_separable(p4, ch(512), strides=2, name="p4_down")
    p5 = layers.Concatenate(name="p5_bu_concat")([p4_down, p5])
    p5 = _five_convs(p5, ch(512), name="p5_bu")
    out_p5 = build_head(p5, ch(1024), num_outputs, "p5")
    return [out_p5, out_p4, out_p3]


def yolo_body(
    input_shape: Sequence[int | None],
    anchors_mask: Sequence[Sequence[int]] = ANCHORS_MASK,
    num_classes: int = DEFAULT_NUM_CLASSES,
    backbone: str = DEFAULT_BACKBONE,
    alpha: float = DEFAULT_ALPHA,
) -> keras.Model:
    """The YOLOv4-lite Keras model (the reference's signature).

    Args:
        input_shape: (height, width) or (height, width, 3); each a multiple of 32, or None for
            a model that accepts any such size.
        anchors_mask: anchor indices per output level, [P5, P4, P3].
        num_classes: number of object classes.
        backbone: a name from ``nets.available_backbones()``.
        alpha: width multiplier of the backbone and the neck.

    Returns:
        A functional ``keras.Model`` with outputs [P5 (stride 32), P4, P3], each of shape
        (batch, H/stride, W/stride, len(mask) * (5 + num_classes)), raw (no activation).
    """
    spec = get_backbone(backbone, alpha)
    height, width = input_shape[0], input_shape[1]
    check_input_sides(height, width)
    if not 1 <= int(num_classes) <= MAX_NUM_CLASSES:
        raise ModelConfigError(f"num_classes must be in [1, {MAX_NUM_CLASSES}], got {num_classes}")
    anchors_per_level = {len(m) for m in anchors_mask}
    if len(anchors_mask) != 3 or len(anchors_per_level) != 1:
        raise ModelConfigError(
            f"anchors_mask must hold three equally long lists, got {anchors_mask}"
        )

    inputs = keras.Input((height, width, 3), name="image")
    feat8, feat16, feat32 = spec.builder(inputs, float(alpha))
    outputs = yolo_neck_and_heads(
        feat8, feat16, feat32, anchors_per_level.pop(), int(num_classes), float(alpha)
    )
    name = f"yolov4_lite_{backbone}_{float(alpha):g}".replace(".", "")
    model = keras.Model(inputs, outputs, name=name)
    model.backbone_name = backbone
    model.alpha = float(alpha)
    model.num_classes = int(num_classes)
    return model


def backbone_layer_names(model: keras.Model) -> set[str]:
    """Names of the layers of a ``yolo_body`` model that belong to its backbone.

    Found by walking the graph back from the three backbone outputs (the inputs of the neck's
    entry layers): exactly the layers those outputs depend on.
    """
    outputs = [model.get_layer(conv_layer_name(block)).input for block in ENTRY_BLOCKS]
    sub = keras.Model(model.inputs, outputs)
    return {layer.name for layer in sub.layers if not isinstance(layer, keras.layers.InputLayer)}
