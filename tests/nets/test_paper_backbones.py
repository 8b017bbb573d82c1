"""The design papers' backbones (SqueezeNet 1.1, ShuffleNetV1/V2, MnasNet-B1/A1): the published
classifiers' sizes,
the detector's grids at every width, SqueezeNet's ImageNet file, and a short training run of each
that saves, reloads and predicts."""

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from nets import load_weights, save_weights, yolo_body
from nets.backbones import backbone_for_layer_count, get_backbone
from nets.backbones.mnasnet import mnasnet_classifier
from nets.backbones.shufflenetv1 import shufflenetv1_classifier
from nets.backbones.shufflenetv2 import shufflenetv2_classifier
from nets.backbones.squeezenet import squeezenet_classifier
from nets.loss import YoloLoss
from tests.conftest import shared_path
from utils.config import load_anchors

BACKBONES = ("squeezenet", "shufflenetv1", "shufflenetv2", "mnasnet_b1", "mnasnet_a1")
# torchvision's parameter counts (PyTorch parameters: BatchNorm running statistics excluded):
# squeezenet1_1, shufflenet_v2_x*, mnasnet0_5 / 0_75 / 1_0 / 1_3.
PUBLISHED = {
    ("squeezenet", 1.0): 1_235_496,
    ("shufflenetv2", 0.5): 1_366_792,
    ("shufflenetv2", 1.0): 2_278_604,
    ("shufflenetv2", 1.5): 3_503_624,
    ("shufflenetv2", 2.0): 7_393_996,
    ("mnasnet_b1", 0.5): 2_218_512,
    ("mnasnet_b1", 0.75): 3_170_208,
    ("mnasnet_b1", 1.0): 4_383_312,
    ("mnasnet_b1", 1.3): 6_282_256,
}
CLASSIFIERS = {
    "squeezenet": lambda alpha: squeezenet_classifier(),
    "shufflenetv2": shufflenetv2_classifier,
    "mnasnet_b1": lambda alpha: mnasnet_classifier("b1", alpha),
    "mnasnet_a1": lambda alpha: mnasnet_classifier("a1", alpha),
    "shufflenetv1": shufflenetv1_classifier,
}
ALL_WIDTHS = sorted((b, a) for b in BACKBONES for a in get_backbone(b).alphas)


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("backbone,alpha", sorted(PUBLISHED))
def test_classifier_has_the_published_parameter_count(backbone, alpha):
    assert _trainable_count(CLASSIFIERS[backbone](alpha)) == PUBLISHED[(backbone, alpha)]


def test_mnasnet_a1_has_the_papers_size():
    """MnasNet-A1 1.0 is 3.9 M parameters in the paper (timm's semnasnet_100: 3.89 M)."""
    assert _trainable_count(mnasnet_classifier("a1", 1.0)) == pytest.approx(3.89e6, rel=0.005)


@pytest.mark.parametrize("alpha,mflops", [(0.5, 38), (1.0, 140), (1.5, 292), (2.0, 524)])
def test_shufflenetv1_has_the_papers_complexity(alpha, mflops):
    """The paper gives ShuffleNet s x (g = 3) in MFLOPs (multiply-adds) at 224; no
    parameter counts. count_flops counts 2 per multiply-add."""
    from nets.profile import count_flops

    mult_adds = count_flops(shufflenetv1_classifier(alpha)) / 2e6
    assert mult_adds == pytest.approx(mflops, rel=0.02)


def test_every_registered_width_has_a_published_figure():
    no_count = {("mnasnet_a1", 1.0)} | {("shufflenetv1", a) for a in (0.5, 1.0, 1.5, 2.0)}
    assert set(ALL_WIDTHS) - set(PUBLISHED) == no_count


def test_weight_file_diagnostics_name_every_backbone_with_that_layer_count():
    assert backbone_for_layer_count(205) == "mobilenetv2 or mnasnet_b1"
    assert backbone_for_layer_count(157) == "mobilenetv1"


@pytest.mark.parametrize("backbone,alpha", ALL_WIDTHS)
def test_detector_grids_are_strides_8_16_32(backbone, alpha):
    model = yolo_body((None, None), num_classes=3, backbone=backbone, alpha=alpha)
    for h, w in [(128, 128), (320, 320), (416, 416), (320, 416)]:
        shapes = model.compute_output_shape((1, h, w, 3))
        assert [tuple(s[1:]) for s in shapes] == [
            (h // 32, w // 32, 24),
            (h // 16, w // 16, 24),
            (h // 8, w // 8, 24),
        ]


def test_imagenet_file_loads_into_exactly_its_50_arrays():
    path = shared_path("weights", "squeezenet_v1_1_imagenet_notop.h5")
    model = yolo_body((128, 128), num_classes=2, backbone="squeezenet", alpha=1.0)
    before = [w.numpy().copy() for w in model.weights]
    report = load_weights(model, path)
    changed = [i for i, w in enumerate(model.weights) if not np.array_equal(before[i], w.numpy())]
    assert len(changed) == 50 and report.num_loaded == 25
    found = []
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                found.append(obj[()])
                if name.startswith("fire9/expand3x3/") and name.endswith("kernel:0")
                else None
            )
        )
    np.testing.assert_array_equal(model.get_layer("fire9_expand3x3").kernel.numpy(), found[0])


@pytest.mark.slow  # eager steps and an inference graph per backbone: 5-20 s
@pytest.mark.parametrize("backbone", BACKBONES)
def test_trains_two_steps_saves_reloads_and_predicts(backbone, tmp_path):
    from utils.inference.detector import Detector
    from utils.training.optimizer import build_optimizer
    from utils.training.yolo_trainer import YoloTrainer

    keras.utils.set_random_seed(0)
    anchors = load_anchors()
    alpha = min(get_backbone(backbone).alphas)
    body = yolo_body((128, 128), num_classes=2, backbone=backbone, alpha=alpha)
    images = tf.random.uniform((2, 128, 128, 3))
    y_true = [tf.zeros((2, 128 // s, 128 // s, 3, 7)) for s in (32, 16, 8)]
    gt = tf.zeros((2, 4, 4))
    trainer = YoloTrainer(body, YoloLoss(anchors, 2))
    # Eager steps: tracing a train step of these graphs takes 30-70 s on two cores, and the
    # traced step is the same code (train.py's runs test it).
    trainer.compile(optimizer=build_optimizer("adam", 1e-3), jit_compile=False, run_eagerly=True)
    data = tf.data.Dataset.from_tensors((images, (*y_true, gt))).repeat()
    history = trainer.fit(data, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False).history
    assert np.isfinite(history["loss"][-1])
    path = str(tmp_path / f"{backbone}.h5")
    save_weights(body, path)
    again = yolo_body((128, 128), num_classes=2, backbone=backbone, alpha=alpha)
    assert load_weights(again, path).num_loaded == get_backbone(backbone).weight_layers
    for a, b in zip(body.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    detector = Detector(again, ["a", "b"], input_size=(128, 128), conf=0.0, max_boxes=3)
    result = detector.detect(np.zeros((100, 150, 3), np.uint8))
    assert len(result) == 3


def test_squeezenet_feeds_its_imagenet_filters_caffe_input():
    """The ImageNet SqueezeNet was trained on BGR 0-255 minus the mean; the detector's input is
    RGB in [0, 1]."""
    from nets.backbones.squeezenet import CaffeInput

    pixel = np.array([[[[1.0, 0.5, 0.0]]]], np.float32)  # RGB
    np.testing.assert_allclose(
        CaffeInput()(pixel).numpy()[0, 0, 0],
        [0.0 - 103.939, 127.5 - 116.779, 255.0 - 123.68],
        rtol=1e-6,
    )
    model = yolo_body((128, 128), num_classes=2, backbone="squeezenet", alpha=1.0)
    assert isinstance(model.get_layer("conv1").input._keras_history.operation, CaffeInput)
