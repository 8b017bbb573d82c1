"""The timm MnasNet converter on synthetic checkpoints with timm's parameter names and PyTorch
shapes: every key is used once, layouts are transposed right, the detector loads the result."""

import numpy as np
import pytest

from nets import load_weights, yolo_body
from nets.backbones.mnasnet import mnasnet_classifier
from utils.timm_weights import ConversionError, convert_checkpoint, convert_timm_state

# timm's arch definitions (kernel, stride, expansion, channels, repeats, SE) after the stem.
TIMM_ARCH = {
    "mnasnet_100": [
        (3, 2, 3, 24, 3, False),
        (5, 2, 3, 40, 3, False),
        (5, 2, 6, 80, 3, False),
        (3, 1, 6, 96, 2, False),
        (5, 2, 6, 192, 4, False),
        (3, 1, 6, 320, 1, False),
    ],
    "semnasnet_100": [
        (3, 2, 6, 24, 2, False),
        (5, 2, 3, 40, 3, True),
        (3, 2, 6, 80, 4, False),
        (3, 1, 6, 112, 2, True),
        (5, 2, 6, 160, 3, True),
        (3, 1, 6, 320, 1, False),
    ],
}


def timm_state(arch, seed=0):
    """A state dict as timm's MnasNet (1.0) would save it, random values, PyTorch layouts."""
    rng = np.random.default_rng(seed)
    state = {}

    def tensor(name, *shape):
        state[name] = rng.normal(size=shape).astype(np.float32)

    def bn(name, channels):
        for leaf in ("weight", "bias", "running_mean"):
            tensor(f"{name}.{leaf}", channels)
        state[f"{name}.running_var"] = rng.uniform(0.5, 2.0, channels).astype(np.float32)
        state[f"{name}.num_batches_tracked"] = np.array(7, np.int64)

    tensor("conv_stem.weight", 32, 3, 3, 3)
    bn("bn1", 32)
    tensor("blocks.0.0.conv_dw.weight", 32, 1, 3, 3)
    bn("blocks.0.0.bn1", 32)
    tensor("blocks.0.0.conv_pw.weight", 16, 32, 1, 1)
    bn("blocks.0.0.bn2", 16)
    channels = 16
    for stage, (k, _, e, out, repeats, se) in enumerate(TIMM_ARCH[arch], start=1):
        for block in range(repeats):
            p, mid = f"blocks.{stage}.{block}", channels * e
            tensor(f"{p}.conv_pw.weight", mid, channels, 1, 1)
            bn(f"{p}.bn1", mid)
            tensor(f"{p}.conv_dw.weight", mid, 1, k, k)
            bn(f"{p}.bn2", mid)
            if se:
                rd = channels // 4
                tensor(f"{p}.se.conv_reduce.weight", rd, mid, 1, 1)
                tensor(f"{p}.se.conv_reduce.bias", rd)
                tensor(f"{p}.se.conv_expand.weight", mid, rd, 1, 1)
                tensor(f"{p}.se.conv_expand.bias", mid)
            tensor(f"{p}.conv_pwl.weight", out, mid, 1, 1)
            bn(f"{p}.bn3", out)
            channels = out
    tensor("conv_head.weight", 1280, 320, 1, 1)
    bn("bn2", 1280)
    tensor("classifier.weight", 1000, 1280)
    tensor("classifier.bias", 1000)
    return state


@pytest.mark.parametrize("arch,variant", [("mnasnet_100", "b1"), ("semnasnet_100", "a1")])
def test_every_key_maps_once_with_the_right_layout(arch, variant):
    state = timm_state(arch)
    model = mnasnet_classifier(variant, 1.0)
    converted, unused = convert_timm_state(state, model)
    modules = {key.rpartition(".")[0] for key in state}
    assert unused == [] and len(converted) == len(set(converted)) == len(modules)
    assert {layer.name for layer in model.layers if layer.weights} == set(converted)
    # Regular convolution: torch (out, in, kh, kw) -> Keras (kh, kw, in, out).
    torch_kernel = state["blocks.2.1.conv_pw.weight"]
    keras_kernel = model.get_layer("blocks_2_1_conv_pw").kernel.numpy()
    assert keras_kernel[0, 0, 5, 7] == torch_kernel[7, 5, 0, 0]
    # Depthwise: torch (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1).
    torch_dw = state["blocks.2.1.conv_dw.weight"]
    keras_dw = model.get_layer("blocks_2_1_conv_dw").kernel.numpy()
    assert keras_dw.shape == (5, 5, 120, 1) and keras_dw[1, 3, 9, 0] == torch_dw[9, 0, 1, 3]
    bn = model.get_layer("blocks_2_1_bn2")
    np.testing.assert_array_equal(bn.moving_variance.numpy(), state["blocks.2.1.bn2.running_var"])
    assert bn.epsilon == 1e-5  # PyTorch's, not Keras' 1e-3
    np.testing.assert_array_equal(
        model.get_layer("classifier").kernel.numpy(), state["classifier.weight"].T
    )


def test_converted_file_loads_into_the_detector_backbone(tmp_path):
    from safetensors.numpy import save_file

    checkpoint, out = tmp_path / "mnasnet_100.safetensors", tmp_path / "b1.h5"
    save_file(timm_state("mnasnet_100"), str(checkpoint))
    converted, unused = convert_checkpoint(str(checkpoint), "mnasnet_b1", 1.0, str(out))
    assert set(unused) == {"conv_head", "bn2", "classifier"}  # the classifier's head
    detector = yolo_body((128, 128), num_classes=3, backbone="mnasnet_b1", alpha=1.0)
    before = [w.numpy().copy() for w in detector.weights]
    report = load_weights(detector, str(out))
    assert report.num_loaded == len(converted)
    changed = sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, detector.weights))
    # Conv kernels plus four arrays per BatchNorm, every backbone layer's.
    expected = sum(len(detector.get_layer(name).weights) for name in converted)
    assert changed == expected


def test_a_checkpoint_of_another_width_is_refused(tmp_path):
    from safetensors.numpy import save_file

    checkpoint = tmp_path / "mnasnet_100.safetensors"
    save_file(timm_state("mnasnet_100"), str(checkpoint))
    with pytest.raises(ConversionError, match="another width or variant"):
        convert_checkpoint(str(checkpoint), "mnasnet_b1", 0.5, str(tmp_path / "x.h5"))
    assert not (tmp_path / "x.h5").exists()
