"""Distributed training: TF_CONFIG and batch checks, the per-replica loss and synchronised
BatchNorm against one device, each step's images split between input pipelines, and two local
worker processes training together."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, dataset_ids, shared_path, voc_subset
from utils.training.distribute import (
    DistributeError,
    check_global_batch,
    is_chief_task,
    local_tf_configs,
    read_tf_config,
    resolve_mode,
)

CLUSTER = {
    "cluster": {"worker": ["localhost:1", "localhost:2"]},
    "task": {"type": "worker", "index": 1},
}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{not json", "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', '"cluster" object'),
        (
            '{"cluster": {"worker": ["nohostport"]}, "task": {"type": "worker", "index": 0}}',
            "host:port",
        ),
        ('{"cluster": {"worker": ["a:1"]}}', '"task" object'),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}',
            "not in the cluster",
        ),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}',
            "outside 0..0",
        ),
    ],
)
def test_malformed_tf_config_is_refused_with_the_reason(text, fragment):
    with pytest.raises(DistributeError, match=fragment):
        read_tf_config({"TF_CONFIG": text})


def test_mode_resolution():
    config = read_tf_config({"TF_CONFIG": json.dumps(CLUSTER)})
    assert read_tf_config({}) is None
    assert resolve_mode("auto", 0, None) == "none"
    assert resolve_mode("auto", 2, None) == "mirrored"
    assert resolve_mode("auto", 0, config) == "multiworker"
    assert resolve_mode("none", 4, config) == "none"
    with pytest.raises(DistributeError, match="needs TF_CONFIG"):
        resolve_mode("multiworker", 0, None)


def test_global_batch_must_split_over_the_replicas():
    check_global_batch(8, 2)
    check_global_batch(3, 1)
    for batch, replicas in ((6, 4), (4, 4), (5, 2)):
        with pytest.raises(DistributeError, match="global batch"):
            check_global_batch(batch, replicas)


def test_local_tf_configs_name_one_cluster_with_distinct_ports():
    configs = [read_tf_config({"TF_CONFIG": c}) for c in local_tf_configs(3)]
    addresses = configs[0]["cluster"]["worker"]
    assert len(set(addresses)) == 3
    assert [c["task"]["index"] for c in configs] == [0, 1, 2]
    assert all(c["cluster"] == configs[0]["cluster"] for c in configs)


def test_chief_is_the_chief_task_or_worker_zero(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(CLUSTER))
    assert is_chief_task(None, 0) and is_chief_task("worker", 0)
    assert not is_chief_task("worker", 1)
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps(
            {
                "cluster": {"chief": ["a:1"], "worker": ["b:2"]},
                "task": {"type": "worker", "index": 0},
            }
        ),
    )
    assert is_chief_task("chief", 0) and not is_chief_task("worker", 0)


def test_each_pipeline_gets_its_consecutive_share_of_every_step():
    import tensorflow as tf

    from utils.data.pipeline import take_share

    stream = tf.data.Dataset.range(24)
    shares = [list(take_share(stream, 8, (2, i)).as_numpy_iterator()) for i in range(2)]
    assert shares[0] == [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19]
    assert shares[1] == [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23]


def test_sharded_training_pipelines_make_the_single_process_examples():
    """Two pipelines at 2 images per replica give, step by step, the examples (augmentation
    included) of one pipeline at the global batch of 4; iterating again repeats them."""
    from utils.config import load_anchors
    from utils.data import load_voc_split
    from utils.data.pipeline import build_train_dataset
    from utils.options import DEFAULT_ANCHORS_PATH

    root = shared_path("datasets", "raccoon", "VOC2007")
    samples, _ = load_voc_split(root, "test", ["raccoon"])
    samples = samples[:9]
    anchors = load_anchors(DEFAULT_ANCHORS_PATH)

    def batches(shard, batch):
        ds = build_train_dataset(
            samples,
            (128, 128),
            anchors,
            1,
            batch,
            mosaic=1.0,
            mixup=0.5,
            seed=3,
            global_batch=4,
            shard=shard,
            epochs=2,
            first_epoch=5,
        )
        return [b[0].numpy() for b in ds]

    single = batches((1, 0), 4)
    parts = [batches((2, i), 2) for i in range(2)]
    assert len(single) == 4 and all(len(p) == 4 for p in parts)  # 2 epochs x 2 whole steps
    for step, images in enumerate(single):
        np.testing.assert_array_equal(images, np.concatenate([parts[0][step], parts[1][step]]))
    np.testing.assert_array_equal(single[0], batches((1, 0), 4)[0])  # reproducible
    assert not np.array_equal(single[0], single[2])  # epochs differ


REPLICA_CHECK = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from nets.layers import BatchNorm
    from nets.loss import YoloLoss
    from utils.config import load_anchors
    from utils.options import DEFAULT_ANCHORS_PATH
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    rng = np.random.RandomState(0)

    def halves(arrays):
        return strategy.experimental_distribute_values_from_function(
            lambda c: [a[2 * c.replica_id_in_sync_group:2 * c.replica_id_in_sync_group + 2]
                       for a in arrays])

    def summed(value):
        return float(sum(float(x) for x in strategy.experimental_local_results(value)))
    # The loss: replicas' shares of the loss of a batch of 4 add up to its single-device loss.
    targets = [np.zeros((4, s, s, 3, 6), np.float32) for s in (4, 8, 16)]
    boxes = np.zeros((4, 100, 4), np.float32)
    for i in range(4):
        for k in range(i + 1):       # replicas see different numbers of objects
            level, y, x, a = k % 3, k, 2 * k % 4, k % 3
            grid_h, grid_w = targets[level].shape[1:3]
            cx, cy, w, h = (x + 0.5) / grid_w, (y + 0.5) / grid_h, 0.2, 0.3
            targets[level][i, y, x, a] = [cx, cy, w, h, 1, 1]
            boxes[i, k] = [cx, cy, w, h]
    preds = [rng.randn(4, s, s, 18).astype(np.float32) for s in (4, 8, 16)]
    loss = YoloLoss(load_anchors(DEFAULT_ANCHORS_PATH), 1)
    single = {k: float(v) for k, v in loss(targets, preds, boxes).items()}
    out = strategy.run(tf.function(lambda t, p: loss(list(t[:3]), list(p), t[3])),
                       args=(halves(targets + [boxes]), halves(preds)))
    replicated = {k: summed(v) for k, v in out.items()}
    # Synchronised BatchNorm over the two halves equals BatchNorm over the whole batch.
    x = rng.rand(4, 8, 8, 3).astype(np.float32) * 3 + 1
    with strategy.scope():
        synced = BatchNorm()
        synced.build((None, 8, 8, 3))
        synced.synchronized = True
    whole = BatchNorm()
    whole.build((None, 8, 8, 3))
    expected = whole(x, training=True).numpy()
    out = strategy.run(tf.function(lambda v: synced(v[0], training=True)), args=(halves([x]),))
    got = np.concatenate([o.numpy() for o in strategy.experimental_local_results(out)])
    print(json.dumps({"single": single, "replicated": replicated,
                      "bn": float(np.abs(got - expected).max()),
                      "moving": float(np.abs(synced.moving_mean.numpy()
                                             - whole.moving_mean.numpy()).max())}))
""")


def test_replicated_loss_and_synchronised_batchnorm_equal_one_device():
    proc = subprocess.run(
        [sys.executable, "-c", REPLICA_CHECK], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key, value in result["single"].items():
        assert result["replicated"][key] == pytest.approx(value, rel=1e-5), key
    assert result["bn"] < 1e-5 and result["moving"] < 1e-6


# ----------------------------------------------------------------------------- whole runs
DRIVER = textwrap.dedent("""
    # train.py, with the trained body's weights saved to $DUMP_WEIGHTS for the test to compare.
    import os, sys
    import numpy as np
    sys.path.insert(0, os.getcwd())
    import train
    import utils.training as training
    original = training.train_detector
    def recording(settings, body, *args, **kwargs):
        initial = [np.asarray(w) for w in body.get_weights()]
        np.savez(os.environ["DUMP_WEIGHTS"] + ".init.npz", *initial)
        result = original(settings, body, *args, **kwargs)
        np.savez(os.environ["DUMP_WEIGHTS"], *[np.asarray(w) for w in body.get_weights()])
        return result
    training.train_detector = recording
    if os.environ.get("FREEZE_BATCHNORM"):
        # BatchNorm layers in inference mode: no statistic depends on how the batch is split.
        import keras
        from utils.training import trainer
        unfreeze = trainer.set_backbone_frozen
        def set_frozen(model, frozen):
            count = unfreeze(model, frozen)
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
            return count
        trainer.set_backbone_frozen = set_frozen
    sys.exit(train.main(sys.argv[1:]))
""")


def _voc_subset(tmp_path, train_count=8):
    root = Path(
        voc_subset(tmp_path, "raccoon", {"train": dataset_ids("raccoon", "train", train_count)})
    )
    (root / "classes.txt").write_text("raccoon\n")
    return root


def _tiny_run_flags(root, weights="none"):
    return [
        "--backbone",
        "mobilenetv1",
        "--alpha",
        "0.25",
        "--input-size",
        "128",
        "--batch-size",
        "4",
        "--seed",
        "1",
        "--mosaic",
        "0",
        "--mixup",
        "0",
        "--data",
        str(root),
        "--classes",
        str(root / "classes.txt"),
        "--val-split",
        "none",
        "--weights",
        weights,
        "--epochs",
        "2",
        "--freeze-epochs",
        "0",
        "--quiet",
    ]


@pytest.mark.slow
def test_two_local_workers_train_as_one(tmp_path, v1_025_weights):
    """Two worker processes (TF_CONFIG, ports picked now) finish with identical weights, equal
    to one process at the same global batch; only the chief writes; its checkpoint loads in
    predict.py.

    The run starts from the VOC weights: a randomly initialised network in training mode is
    chaotic (a 1e-6 change of the input moves its outputs by 0.4), so float rounding of the
    split batch would decide the comparison, not the training loop.
    """
    root = _voc_subset(tmp_path)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    flags = _tiny_run_flags(root, v1_025_weights) + ["--no-ema", "--sync-bn"]
    single = subprocess.run(
        [sys.executable, str(driver)]
        + flags
        + ["--distribute", "none", "--save-dir", str(tmp_path / "single")],
        cwd=ROOT,
        env=dict(os.environ, DUMP_WEIGHTS=str(tmp_path / "single.npz")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    outputs = _run_workers(
        driver, flags + ["--save-dir", str(tmp_path / "out{index}")], tmp_path, "w"
    )
    assert "multiworker: 2 replicas on 2 workers" in outputs[0]
    assert "as worker 1; the chief wrote the checkpoints" in outputs[1]
    first, second = (np.load(tmp_path / f"w{i}.npz") for i in range(2))
    reference = np.load(tmp_path / "single.npz")
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])
        # Float rounding of the split batch only: 3e-4 of an array's scale was measured,
        # while these two epochs move the weights by 6e-2 of it.
        scale = max(float(np.abs(reference[key]).max()), 1e-6)
        assert float(np.abs(first[key] - reference[key]).max()) / scale < 2e-3, key
    assert os.path.isfile(tmp_path / "out0" / "last.h5")
    assert not os.path.exists(tmp_path / "out1")
    image = os.path.join(root, "JPEGImages", "raccoon-1.jpg")
    proc = subprocess.run(
        [
            sys.executable,
            "predict.py",
            "--backbone",
            "mobilenetv1",
            "--alpha",
            "0.25",
            "--weights",
            str(tmp_path / "out0" / "last.h5"),
            "--classes",
            str(tmp_path / "out0" / "classes.txt"),
            "--source",
            image,
            "--save-dir",
            str(tmp_path / "pred"),
            "--json",
            str(tmp_path / "dets.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert isinstance(json.loads((tmp_path / "dets.json").read_text()), (list, dict))


@pytest.mark.slow
def test_two_mirrored_cpu_replicas_take_the_single_device_steps(tmp_path, v1_025_weights):
    """MirroredStrategy over two logical CPUs against the default strategy, same global batch.

    BatchNorm runs in inference mode here (synchronised BatchNorm is checked against one
    device above; tracing it in a mirrored step takes minutes on a CPU), so the comparison
    covers the loss normalisation, gradient summing, data split, LR schedule and EMA.
    """
    root = _voc_subset(tmp_path)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    weights = {}
    for name, extra in (
        ("single", ["--distribute", "none"]),
        ("mirrored", ["--distribute", "mirrored", "--cpu-replicas", "2"]),
    ):
        proc = subprocess.run(
            [sys.executable, str(driver)]
            + _tiny_run_flags(root, v1_025_weights)
            + extra
            + ["--warmup-epochs", "0", "--save-dir", str(tmp_path / name)],
            cwd=ROOT,
            env=dict(os.environ, DUMP_WEIGHTS=str(tmp_path / f"{name}.npz"), FREEZE_BATCHNORM="1"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        weights[name] = np.load(tmp_path / f"{name}.npz")
    assert "mirrored: 2 replicas" in proc.stdout
    start = np.load(tmp_path / "single.npz.init.npz")
    moved = 0.0
    for key in weights["single"].files:
        single, mirrored = weights["single"][key], weights["mirrored"][key]
        scale = max(float(np.abs(single).max()), 1e-6)
        assert float(np.abs(mirrored - single).max()) / scale < 1e-4, key
        moved = max(moved, float(np.abs(single - start[key]).max()) / scale)
    assert moved > 1e-3  # training moved the weights 10x more than the tolerance


def _run_workers(driver, flags, tmp_path, tag):
    """Run ``driver`` with ``flags`` as two local workers (``{index}`` in a flag becomes the
    worker's index); returns their outputs."""
    procs = []
    for index, tf_config in enumerate(local_tf_configs(2)):
        env = dict(
            os.environ, TF_CONFIG=tf_config, DUMP_WEIGHTS=str(tmp_path / f"{tag}{index}.npz")
        )
        argv = [flag.replace("{index}", str(index)) for flag in flags]
        procs.append(
            subprocess.Popen(
                [sys.executable, str(driver)] + argv,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-3000:]
    return outputs


@pytest.mark.slow
def test_a_distributed_run_resumes_from_a_shared_save_dir(tmp_path, v1_025_weights):
    """Both workers read the chief's state from a shared --save-dir and carry on together."""
    root = _voc_subset(tmp_path)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    save_dir = str(tmp_path / "shared_run")
    flags = _tiny_run_flags(root, v1_025_weights)
    flags[flags.index("--epochs") + 1] = "1"
    _run_workers(driver, flags + ["--save-dir", save_dir], tmp_path, "first")
    assert json.load(open(os.path.join(save_dir, "train_state.json")))["epoch"] == 1
    outputs = _run_workers(
        driver, ["--save-dir", save_dir, "--resume", "--epochs", "2"], tmp_path, "resumed"
    )
    assert "resume" in outputs[0] and "from epoch 1" in outputs[0]
    state = json.load(open(os.path.join(save_dir, "train_state.json")))
    assert state["epoch"] == 2 and [row["epoch"] for row in state["history"]] == [1, 2]
    first, second = (np.load(tmp_path / f"resumed{i}.npz") for i in range(2))
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])


@pytest.mark.slow
@pytest.mark.parametrize(
    "env, flags, fragment",
    [
        ({}, ["--distribute", "multiworker"], "needs TF_CONFIG"),
        ({"TF_CONFIG": "{oops"}, [], "TF_CONFIG is not valid JSON"),
        ({}, ["--distribute", "mirrored", "--cpu-replicas", "3"], "multiple of the 3 replicas"),
        ({}, ["--distribute", "none", "--cpu-replicas", "2"], "--cpu-replicas needs"),
    ],
)
def test_distribution_mistakes_give_one_line(tmp_path, env, flags, fragment):
    root = _voc_subset(tmp_path)
    environ = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    environ.update(env)
    proc = subprocess.run(
        [sys.executable, "train.py"]
        + _tiny_run_flags(root)
        + flags
        + ["--save-dir", str(tmp_path / "out")],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.slow
def test_a_bfloat16_run_trains_and_its_checkpoint_predicts_in_float32(tmp_path):
    root = _voc_subset(tmp_path)
    save_dir = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "train.py"]
        + _tiny_run_flags(root)
        + ["--mixed-precision", "--epochs", "5", "--lr", "0.05", "--save-dir", str(save_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mixed_bfloat16" in proc.stdout
    import csv

    losses = [float(r["loss"]) for r in csv.DictReader(open(save_dir / "history.csv"))]
    # Five epochs: over three (warm-up, then one step of LR) a random start moves the loss by
    # less than its epoch-to-epoch noise.
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    from nets import load_weights, yolo_body

    body = yolo_body((128, 128), num_classes=1, backbone="mobilenetv1", alpha=0.25)
    load_weights(body, str(save_dir / "last.h5"))
    outputs = body(np.zeros((1, 128, 128, 3), np.float32))
    assert all(o.dtype == "float32" and np.isfinite(o.numpy()).all() for o in outputs)
