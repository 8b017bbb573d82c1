"""train.py and the training loop on real data: outputs, checkpoints that predict.py loads,
resuming, NaN handling, freezing by backbone membership, the helmet dataset's problems."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import train
import utils.training as training
from nets import load_weights, yolo_body
from nets.yolo import backbone_layer_names
from tests.conftest import ROOT, dataset_ids, voc_subset
from utils.training import trainer
from utils.training.model_setup import set_backbone_frozen
from utils.training.optimizer import build_optimizer
from utils.training.schedules import cosine_lr, scaled_learning_rates, step_lr
from utils.training.state import load_training_state
from utils.training.yolo_trainer import YoloTrainer

SMALL = [
    "--backbone",
    "mobilenetv1",
    "--alpha",
    "0.25",
    "--input-size",
    "128",
    "--batch-size",
    "4",
    "--freeze-batch-size",
    "4",
    "--workers",
    "2",
    "--seed",
    "1",
    "--mosaic",
    "1",
    "--mixup",
    "0.5",
    "--quiet",
]


@pytest.fixture(scope="module")
def raccoon_small(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("raccoon")
    root = voc_subset(
        tmp,
        "raccoon",
        {"train": dataset_ids("raccoon", "train", 8), "test": dataset_ids("raccoon", "test", 4)},
    )
    classes = tmp / "classes.txt"
    classes.write_text("raccoon\n")
    return root, str(classes)


def _history(save_dir):
    with open(os.path.join(save_dir, "history.csv")) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def full_run(raccoon_small, tmp_path_factory, v1_025_weights):
    """3 epochs (1 frozen) with evaluation every epoch: the reference run for several tests."""
    root, classes = raccoon_small
    save_dir = str(tmp_path_factory.mktemp("run") / "out")
    argv = SMALL + [
        "--data",
        root,
        "--classes",
        classes,
        "--weights",
        v1_025_weights,
        "--epochs",
        "3",
        "--freeze-epochs",
        "1",
        "--eval-period",
        "1",
        "--ema",
        "--save-dir",
        save_dir,
    ]
    assert train.main(argv) == 0
    return argv, save_dir


@pytest.mark.slow
def test_run_writes_every_output(full_run):
    _, save_dir = full_run
    for name in (
        "last.h5",
        "best.h5",
        "train_state.json",
        "train_state.npz",
        "history.csv",
        "loss.png",
        "map.png",
        "classes.txt",
    ):
        assert os.path.getsize(os.path.join(save_dir, name)) > 0, name
    events = [
        f
        for _, _, files in os.walk(os.path.join(save_dir, "tensorboard"))
        for f in files
        if f.startswith("events.out.tfevents")
    ]
    assert events
    rows = _history(save_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for row in rows:
        for key in ("loss", "box", "obj", "cls", "val_loss", "lr", "map50", "images_per_s"):
            assert np.isfinite(float(row[key])), (key, row)
        assert float(row["loss"]) == pytest.approx(
            float(row["box"]) + float(row["obj"]) + float(row["cls"]), rel=1e-3
        )
        assert 0.0 <= float(row["map50"]) <= 1.0
    state = json.load(open(os.path.join(save_dir, "train_state.json")))
    assert state["epoch"] == 3 and state["phase"] == "unfrozen"
    # Only the heads were skipped when loading the 20-class file into a 1-class model.
    model = yolo_body((128, 128), num_classes=1, alpha=0.25)
    report = load_weights(model, os.path.join(save_dir, "last.h5"))
    assert not report.skipped
    # With --ema, last.h5 holds the averaged weights, not the training weights.
    _, arrays = load_training_state(save_dir)
    saved = model.get_weights()
    floats = [i for i, w in enumerate(model.weights) if "float" in str(w.dtype)]
    averages = [arrays[f"e{i}"] for i in range(len(floats))]
    for index, average in zip(floats, averages):
        np.testing.assert_allclose(saved[index], average, atol=1e-6)
    assert any(
        not np.allclose(arrays[f"w{i}"], average, atol=1e-6) for i, average in zip(floats, averages)
    )


@pytest.mark.slow
def test_checkpoint_loads_in_predict(full_run, raccoon_small, tmp_path):
    _, save_dir = full_run
    image = os.path.join(
        raccoon_small[0], "JPEGImages", dataset_ids("raccoon", "test", 1)[0] + ".jpg"
    )
    out = tmp_path / "dets.json"
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "predict.py"),
            "--weights",
            os.path.join(save_dir, "last.h5"),
            "--classes",
            os.path.join(save_dir, "classes.txt"),
            "--backbone",
            "mobilenetv1",
            "--alpha",
            "0.25",
            "--source",
            image,
            "--json",
            str(out),
            "--save-dir",
            str(tmp_path / "img"),
            "--conf",
            "0.01",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.exists() and json.loads(out.read_text()) is not None


class _InterruptAfter(keras.callbacks.Callback):
    """Simulates Ctrl-C right after an epoch's checkpoint and state are written."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_interrupted_run_resumes_and_continues_the_schedule(full_run, monkeypatch, capsys):
    argv, reference_dir = full_run
    save_dir = reference_dir + "_resumed"
    argv = [a if a != reference_dir else save_dir for a in argv]
    original = training.train_detector

    def interrupted(*args, **kwargs):
        return original(*args, extra_callbacks=[_InterruptAfter(2)], **kwargs)

    monkeypatch.setattr(training, "train_detector", interrupted)
    assert train.main(argv) == 130
    assert "--resume" in capsys.readouterr().err
    assert os.path.isfile(os.path.join(save_dir, "interrupted.h5"))
    assert json.load(open(os.path.join(save_dir, "train_state.json")))["epoch"] == 2
    monkeypatch.setattr(training, "train_detector", original)
    # Resume with only the save dir: the saved flags are reused.
    assert train.main(["--save-dir", save_dir, "--resume", "--quiet"]) == 0
    resumed, reference = _history(save_dir), _history(reference_dir)
    assert [int(r["epoch"]) for r in resumed] == [1, 2, 3]
    for a, b in zip(resumed, reference):
        assert float(a["lr"]) == pytest.approx(float(b["lr"]), rel=1e-9)
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
    # Resuming is exact: epoch 3 (mosaic off from epoch 3: round(0.7 * 3) = 2 epochs with it)
    # sees the same examples, LR, optimiser moments and average as the uninterrupted run, so
    # every weight, optimiser and average array ends the same (bit-identical when measured).
    _, arrays_resumed = load_training_state(save_dir)
    _, arrays_reference = load_training_state(reference_dir)
    assert sorted(arrays_resumed) == sorted(arrays_reference)
    for key, value in arrays_reference.items():
        np.testing.assert_allclose(
            arrays_resumed[key],
            value,
            rtol=1e-5,
            atol=1e-6 * float(np.abs(value).max(initial=1.0)),
            err_msg=key,
        )
    # The optimiser continued (its step counter counts both sessions' steps).
    assert float(arrays_resumed["o0"]) == float(arrays_reference["o0"]) == 4.0
    # The weight average came back too: its update count spans both sessions.
    count = len([k for k in arrays_reference if k.startswith("e")]) - 1
    assert float(arrays_resumed[f"e{count}"][0]) == float(arrays_reference[f"e{count}"][0]) == 6.0


@pytest.mark.slow
def test_loss_on_a_fixed_batch_falls(raccoon_small):
    from nets.loss import YoloLoss
    from utils.config import load_anchors
    from utils.data import load_voc_split
    from utils.data.pipeline import build_val_dataset

    samples, _ = load_voc_split(raccoon_small[0], "train", ["raccoon"])
    anchors = load_anchors()
    batch = next(iter(build_val_dataset(samples[:4], (128, 128), anchors, 1, 4)))
    keras.utils.set_random_seed(0)
    body = yolo_body((128, 128), num_classes=1, alpha=0.25)
    trainer = YoloTrainer(body, YoloLoss(anchors, 1))
    trainer.compile(optimizer=build_optimizer("adam", 1e-3), jit_compile=False)
    trainer.optimizer.build(body.trainable_variables)
    data = tf.data.Dataset.from_tensors(batch).repeat()
    # One step per epoch: each epoch's logged loss is that step's loss (training mode).
    history = trainer.fit(data, steps_per_epoch=1, epochs=40, verbose=0, shuffle=False).history
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    assert history["obj"][-1] < history["obj"][0]


@pytest.mark.slow
def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(
    raccoon_small, tmp_path, monkeypatch, capsys
):
    poison = tf.Variable(False)

    class PoisonedLoss(trainer.YoloLoss):
        def __call__(self, *args):
            parts = super().__call__(*args)
            parts["total"] = tf.where(poison, tf.constant(np.nan, tf.float32), parts["total"])
            return parts

    class PoisonFromEpoch2(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            poison.assign(epoch >= 1)

    original = training.train_detector
    monkeypatch.setattr(trainer, "YoloLoss", PoisonedLoss)
    monkeypatch.setattr(
        training,
        "train_detector",
        lambda *a, **k: original(*a, extra_callbacks=[PoisonFromEpoch2()], **k),
    )
    root, classes = raccoon_small
    save_dir = str(tmp_path / "nan")
    rc = train.main(
        SMALL
        + [
            "--data",
            root,
            "--classes",
            classes,
            "--weights",
            "none",
            "--epochs",
            "3",
            "--freeze-epochs",
            "0",
            "--eval-period",
            "0",
            "--save-dir",
            save_dir,
        ]
    )
    assert rc == 1
    assert "NaN" in capsys.readouterr().err
    assert json.load(open(os.path.join(save_dir, "train_state.json")))["epoch"] == 1
    assert [int(r["epoch"]) for r in _history(save_dir)] == [1]
    model = yolo_body((128, 128), num_classes=1, alpha=0.25)
    load_weights(model, os.path.join(save_dir, "last.h5"))
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.slow
def test_helmet_annotation_problems_are_reported_and_training_goes_on(tmp_path, capsys):
    # 000102 and 000121 state a wrong image size; 000001 and 000002 give the XML name in
    # <filename>.
    ids = ["000102", "000121", "000001", "000002"]
    root = voc_subset(tmp_path, "helmet", {"train": ids, "test": ids[:2]})
    classes = tmp_path / "classes.txt"
    classes.write_text("helmet\nhead\n")
    rc = train.main(
        SMALL
        + [
            "--data",
            root,
            "--classes",
            str(classes),
            "--weights",
            "none",
            "--epochs",
            "1",
            "--freeze-epochs",
            "0",
            "--eval-period",
            "0",
            "--mosaic",
            "0.5",
            "--save-dir",
            str(tmp_path / "out"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "000102" in out and "000121" in out
    assert os.path.isfile(tmp_path / "out" / "last.h5")


@pytest.mark.parametrize(
    "backbone,alpha,reference_count", [("mobilenetv1", 0.25, 81), ("ghostnet", 1.0, 300)]
)
def test_freezing_freezes_exactly_the_backbone(backbone, alpha, reference_count):
    model = yolo_body((128, 128), num_classes=2, backbone=backbone, alpha=alpha)
    names = backbone_layer_names(model)
    set_backbone_frozen(model, True)
    frozen = {layer.name for layer in model.layers if not layer.trainable}
    assert frozen == names
    neck = ("p3_", "p4_", "p5_", "spp_", "head_")
    for layer in model.layers:
        if layer.name.startswith(neck):
            assert layer.trainable, layer.name
        elif layer.weights:
            assert not layer.trainable, layer.name
    if backbone == "ghostnet":
        # The reference's fixed count (300) leaves the last backbone layers trainable.
        assert len(names) > reference_count
    set_backbone_frozen(model, False)
    assert all(layer.trainable for layer in model.layers)


def test_learning_rate_schedules_follow_the_reference():
    # SGD 1e-2 at batch 16 -> 2.5e-3, at batch 8 -> 1.25e-3; Adam clamps to [3e-4, 1e-3].
    assert scaled_learning_rates(1e-2, 16, "sgd")[0] == pytest.approx(2.5e-3)
    assert scaled_learning_rates(1e-2, 8, "sgd") == pytest.approx((1.25e-3, 1.25e-5))
    assert scaled_learning_rates(1e-3, 8, "adam") == pytest.approx((3e-4, 3e-6))
    lr, low = 1e-3, 1e-5
    assert cosine_lr(0, 100, lr, low) == pytest.approx(1e-4)  # warm-up start
    assert cosine_lr(1.5, 100, lr, low) == pytest.approx(1e-4 + 0.9e-3 * 0.25)
    assert cosine_lr(3, 100, lr, low) == pytest.approx(lr)  # peak after warm-up
    assert cosine_lr(50, 100, lr, low) < lr and cosine_lr(50, 100, lr, low) > low
    assert cosine_lr(95, 100, lr, low) == low  # last 5% held at min
    values = [cosine_lr(e, 100, lr, low) for e in range(3, 96)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert step_lr(0, 100, lr, low) == lr and step_lr(99, 100, lr, low) == pytest.approx(low)


@pytest.mark.slow
def test_help_and_bad_flags():
    script = os.path.join(ROOT, "train.py")
    proc = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--freeze-epochs" in proc.stdout and "--resume" in proc.stdout
    for args, words in (
        (["--data", "x", "--batch-size", "1"], "at least 2"),
        (["--data", "x", "--mosaic", "1.5"], "in [0, 1]"),
        (["--epochs", "3"], "give a dataset"),
        (["--data", "x", "--optimizer", "rmsprop"], "invalid choice"),
    ):
        proc = subprocess.run([sys.executable, script] + args, capture_output=True, text=True)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_missing_dataset_and_bad_weights_give_one_line_errors(tmp_path, capsys):
    rc = train.main(["--data", str(tmp_path / "nowhere"), "--save-dir", str(tmp_path / "o")])
    assert rc == 2 and "dataset not found" in capsys.readouterr().err
    root = voc_subset(
        tmp_path,
        "raccoon",
        {"train": dataset_ids("raccoon", "train", 4), "test": dataset_ids("raccoon", "test", 2)},
    )
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    rc = train.main(
        SMALL + ["--data", root, "--weights", str(bad), "--save-dir", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "bad.h5" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "flags,expected",
    [
        ([], (200, 0)),  # the random-init schedule
        (["--epochs", "30"], (30, 0)),  # given epochs are kept
        (["--freeze-epochs", "4"], (200, 4)),  # and a given frozen phase too
        (["--random-init-epochs", "80"], (80, 0)),
    ],
)
def test_a_backbone_without_weights_trains_longer_and_unfrozen(flags, expected, capsys):
    args = train.build_parser().parse_args(
        ["--backbone", "shufflenetv2", "--alpha", "0.5", "--data", "."] + flags
    )
    train.plan_random_initialisation(args)
    assert (args.epochs, args.freeze_epochs) == expected and args.weights == "none"
    assert "has no published weights" in capsys.readouterr().out


def test_published_weights_keep_the_fine_tuning_schedule(capsys):
    args = train.build_parser().parse_args(
        ["--backbone", "mobilenetv1", "--alpha", "0.25", "--data", "."]
    )
    train.plan_random_initialisation(args)
    assert (args.epochs, args.freeze_epochs, args.weights) == (60, 5, None)
    args = train.build_parser().parse_args(["--alpha", "0.25", "--data", ".", "--weights", "none"])
    train.plan_random_initialisation(args)
    assert (args.epochs, args.freeze_epochs) == (200, 0)
    assert "no published weights" not in capsys.readouterr().out


@pytest.mark.slow
def test_tiles_multi_scale_and_auto_anchors_train_and_the_anchors_go_with_the_checkpoint(
    raccoon_small, tmp_path, v1_025_weights, capsys
):
    # k-means needs 9 boxes for 9 anchors: 12 images.
    root = voc_subset(tmp_path, "raccoon", {"train": dataset_ids("raccoon", "train", 12)})
    from utils.config import load_anchors
    from utils.data.anchors import fit_anchors
    from utils.data.datasets import open_dataset
    from utils.data.tiles import tile_samples
    from utils.inference.runtime_detector import load_detector

    classes = raccoon_small[1]
    save_dir = tmp_path / "run"
    argv = SMALL + ["--data", root, "--classes", classes, "--weights", v1_025_weights]
    argv += ["--epochs", "1", "--freeze-epochs", "0", "--anchors", "auto", "--val-split", "none"]
    argv += ["--train-slice", "256", "--multi-scale", "--save-dir", str(save_dir)]
    assert train.main(argv) == 0
    out = capsys.readouterr().out
    assert "multi-scale 96x96 to 160x160 (3 sizes)" in out
    samples = open_dataset(root).load("train", ["raccoon"]).samples
    tiles = tile_samples(samples, (256, 256), str(save_dir / "train_tiles"))  # the cached ones
    assert f"--train-slice 256x256: {len(tiles)} tiles with boxes added to the 12" in out
    assert "each epoch draws 12 of them afresh" in out and "batch 4, 3 steps/epoch" in out
    boxes = sum(len(s.boxes) for s in samples + tiles)
    assert f"anchors fitted to the {boxes} training boxes at 128x128" in out
    fitted = np.round(fit_anchors(samples + tiles, (128, 128))[0])
    saved = load_anchors(str(save_dir / "anchors.txt"))
    np.testing.assert_array_equal(saved, fitted)
    assert not np.array_equal(saved, load_anchors())  # not model_data's
    model = ["mobilenetv1", 0.25, str(save_dir / "last.h5")]
    found = load_detector(*model, classes_path=classes, input_size=128)
    np.testing.assert_array_equal(found.anchors, saved)  # picked up beside the checkpoint
    default = "model_data/yolo_anchors.txt"
    chosen = load_detector(*model, classes_path=classes, anchors_path=default, input_size=128)
    np.testing.assert_array_equal(chosen.anchors, load_anchors())  # an explicit file wins
