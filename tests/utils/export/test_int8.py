"""Which ONNX nodes stay float when TFLite's debugger names a layer (utils/export/int8.py)."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from utils.export.int8 import nodes_computing


def _graph():
    """x -> Conv (pointwise, keeps its TF name) -> Clip (Relu6) -> Conv__7 (a depthwise conv
    tf2onnx renamed) -> Clip -> y, with the tensors named as tf2onnx names them."""
    layer = "model_1/conv_{}_1/BiasAdd:0"
    relu = "model_1/conv_{}_relu_1/Relu6:0"
    nodes = [
        helper.make_node("Conv", ["x", "w1"], [layer.format("pw_1")], name="model_1/conv_pw_1"),
        helper.make_node("Clip", [layer.format("pw_1")], [relu.format("pw_1")], name="clip_pw_1"),
        helper.make_node(
            "Conv", [relu.format("pw_1"), "w2"], ["Conv__7:0"], name="Conv__7", group=3
        ),
        helper.make_node("Clip", ["Conv__7:0"], [relu.format("dw_2")], name="clip_dw_2"),
    ]
    return _model(nodes, relu.format("dw_2"), second_weights=(3, 1, 1, 1))


def _model(nodes, output, second_weights):
    """A model of ``nodes`` from input x (1, 3, 8, 8) to ``output``, with weights w1 (a 3x3
    pointwise kernel) and w2 (``second_weights``)."""
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes,
        "g",
        [value("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [value(output, TensorProto.FLOAT, [1, 3, 8, 8])],
        [
            numpy_helper.from_array(np.ones((3, 3, 1, 1), np.float32), "w1"),
            numpy_helper.from_array(np.ones(second_weights, np.float32), "w2"),
        ],
    )
    return helper.make_model(graph)


def test_a_named_activation_keeps_its_convolution_float_too():
    model = _graph()
    onnx.checker.check_model(model)
    ranked = ["model_1/conv_dw_2_relu_1/Relu6;model_1/conv_dw_2_1/BiasAdd;model_1/conv_dw_2_1/dw"]
    assert nodes_computing(model, ranked, 1) == ["clip_dw_2", "Conv__7"]


def test_fused_names_match_by_any_part_and_unknown_tensors_are_passed_over():
    model = _graph()
    ranked = [
        "StatefulPartitionedCall:0",  # not in the graph: the next one is taken instead
        "model_1/conv_pw_1_1/BiasAdd;model_1/conv_pw_1_1/Conv2D",
        "model_1/conv_dw_2_relu_1/Relu6",
    ]
    assert nodes_computing(model, ranked, 1) == ["model_1/conv_pw_1"]
    assert nodes_computing(model, ranked, 2) == ["model_1/conv_pw_1", "clip_dw_2", "Conv__7"]
    assert nodes_computing(model, ranked, 0) == []


def _ghostnet_like_graph():
    """x -> Conv -> Transpose -> Relu -> Transpose -> Conv -> y: the layout Transposes tf2onnx
    leaves when its transpose optimiser gives up (as on ghostnet), tensors named as it names
    them."""
    block = "model_1/blocks.3.0.{}_1/"
    nodes = [
        helper.make_node(
            "Conv", ["x", "w1"], [block.format("se.conv") + "Conv2D:0"], name="se_conv"
        ),
        helper.make_node(
            "Transpose", [block.format("se.conv") + "Conv2D:0"], ["t1:0"], perm=[0, 2, 3, 1]
        ),
        helper.make_node("Relu", ["t1:0"], [block.format("se.relu") + "Relu:0"], name="se_relu"),
        helper.make_node(
            "Transpose", [block.format("se.relu") + "Relu:0"], ["t2:0"], perm=[0, 3, 1, 2]
        ),
        helper.make_node(
            "Conv", ["t2:0", "w2"], [block.format("primary_conv") + "Conv2D:0"], name="primary"
        ),
    ]
    return _model(nodes, block.format("primary_conv") + "Conv2D:0", second_weights=(3, 3, 1, 1))


def test_an_activation_behind_layout_transposes_keeps_its_convolution_float():
    model = _ghostnet_like_graph()
    onnx.checker.check_model(model)
    ranked = ["model_1/blocks.3.0.se.relu_1/Relu;model_1/blocks.3.0.se.conv_1/Conv2D"]
    assert nodes_computing(model, ranked, 1) == ["se_relu", "se_conv"]


def test_a_name_tflite_made_unique_with_a_digit_is_found():
    # TFLite appends a digit to a tensor name that another tensor (here the weights) has.
    ranked = ["model_1/blocks.3.0.primary_conv_1/Conv2D1"]
    assert nodes_computing(_ghostnet_like_graph(), ranked, 1) == ["primary"]
