"""train.py killed with SIGKILL again and again, then out of disk space: every file it leaves is
whole, and --resume continues.

One run of 14 short epochs is killed five times, each time in a new process resumed from the
last: three times at a random moment of the epoch after one has finished (training steps,
validation, mAP evaluation or the writes), twice the instant a temporary file shows that
last.h5 or the training state is being written. After every kill each file in
the save dir must be complete (``outputs.check_training_dir``) and the saved epoch may not go
back; the last process runs to the end. That run then continues for one more epoch under a
file-size limit (``RLIMIT_FSIZE``, so the operating system refuses the checkpoint write as a
full disk would): one error line, epoch 14's files untouched.
"""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, dataset_ids, shared_path, voc_subset
from tests.robustness.outputs import check_training_dir, limit_file_size
from utils import files

pytestmark = pytest.mark.slow  # seven train.py processes: about 2.5 min on two cores
EPOCHS = 14
KILLS = 5
WRITES = (".last.h5", ".train_state.npz")  # the files the mid-write kills aim at


def _train_command(tmp_path, save_dir):
    root = voc_subset(
        tmp_path,
        "raccoon",
        {"train": dataset_ids("raccoon", "train", 8), "test": dataset_ids("raccoon", "test", 8)},
    )
    classes = tmp_path / "classes.txt"
    classes.write_text("raccoon\n")
    return [
        sys.executable,
        os.path.join(ROOT, "train.py"),
        "--backbone",
        "mobilenetv1",
        "--alpha",
        "0.25",
        "--input-size",
        "128",
        "--batch-size",
        "4",
        "--workers",
        "2",
        "--seed",
        "1",
        "--data",
        root,
        "--classes",
        str(classes),
        "--weights",
        shared_path("weights", "yolov4_mobilenet_v1_025_voc.h5"),
        "--epochs",
        str(EPOCHS),
        "--freeze-epochs",
        "0",
        "--eval-period",
        "1",
        "--save-period",
        "1",
        "--save-dir",
        str(save_dir),
        "--quiet",
    ]


def _saved_epoch(save_dir):
    """The epoch of the readable progress file, or 0 (read while the run writes it)."""
    try:
        return int(json.load(open(os.path.join(save_dir, "train_state.json")))["epoch"])
    except (OSError, ValueError):
        return 0


def _wait_for_epoch_after(process, save_dir, epoch, timeout=300):
    deadline = time.time() + timeout
    while _saved_epoch(save_dir) <= epoch:
        assert process.poll() is None, "train.py ended before it was killed"
        assert time.time() < deadline, "no epoch finished in time"
        time.sleep(0.02)


def _wait_for_temporary(save_dir, prefix, timeout=20.0):
    """Poll for a temporary file whose name starts with ``prefix``; return its name (or None
    when none appeared in time)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for name in os.listdir(save_dir):
            if name.startswith(prefix) and files.is_temporary(name):
                return name
        time.sleep(0.0005)
    return None


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """The run killed KILLS times, then resumed to the end: (save dir, resume command, kill
    log, the last process's result, the model's weight count)."""
    from nets import yolo_body

    tmp_path = tmp_path_factory.mktemp("killed")
    weights_count = len(yolo_body((128, 128), num_classes=1, alpha=0.25).weights)
    save_dir = tmp_path / "run"
    command = _train_command(tmp_path, save_dir)
    rng = random.Random(2026)
    log, saved = [], 0
    for kill in range(KILLS):
        with open(tmp_path / f"log{kill}.txt", "w") as out:
            process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_for_epoch_after(process, save_dir, saved)
            if kill % 2 == 0:
                delay = rng.uniform(0.0, 2.0)  # an epoch here lasts 1.5-3 s
                time.sleep(delay)
                moment = f"{delay:.2f} s after epoch {_saved_epoch(save_dir)} was saved"
            else:  # the checkpoint, the training state, a periodic checkpoint
                name = _wait_for_temporary(save_dir, WRITES[kill // 2])
                moment = f"while writing {name}"
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
        epoch, temporaries = check_training_dir(save_dir, weights_count)
        assert epoch is not None and epoch >= saved, (epoch, saved)
        log.append(
            f"kill {kill + 1}: {moment}; state at epoch {epoch}, "
            f"temporaries left: {temporaries or 'none'}"
        )
        saved = epoch
        if kill == 0:
            command = command[:2] + ["--save-dir", str(save_dir), "--resume", "--quiet"]
    print("\n".join(log))
    final = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    return save_dir, command, log, final, weights_count


def test_sigkill_at_any_moment_loses_nothing(killed_run, record_property):
    save_dir, _, log, final, weights_count = killed_run
    record_property(
        "robustness", ["train.py", f"SIGKILL x{KILLS}, then --resume", final.returncode == 0]
    )
    assert sum("while writing ." in line for line in log) == len(WRITES), log
    assert final.returncode == 0 and "Traceback" not in final.stderr, final.stderr[-3000:]
    epoch, temporaries = check_training_dir(save_dir, weights_count)
    assert epoch == EPOCHS and temporaries == []
    history = list(csv.DictReader(open(save_dir / "history.csv")))
    assert [int(row["epoch"]) for row in history] == list(range(1, EPOCHS + 1))
    assert sorted(n for n in os.listdir(save_dir) if n.startswith("ep")) == [
        f"ep{e:03d}.h5" for e in range(1, EPOCHS + 1)
    ]


def test_full_disk_during_training_keeps_the_last_checkpoint(killed_run, record_property):
    save_dir, command, _, final, weights_count = killed_run
    assert final.returncode == 0
    before = {name: (save_dir / name).read_bytes() for name in ("last.h5", "train_state.npz")}
    proc = subprocess.run(
        command + ["--epochs", str(EPOCHS + 1)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limit_file_size(2**20),
    )
    passed = proc.returncode == 2 and "Traceback" not in proc.stderr
    record_property("robustness", ["train.py", "full disk while checkpointing", passed])
    assert passed, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert f"cannot write {save_dir / 'last.h5'}: File too large" in errors[0]
    assert f"keeps epoch {EPOCHS} complete" in errors[0] and "--resume" in errors[0]
    for name, content in before.items():
        assert (save_dir / name).read_bytes() == content, name
    epoch, temporaries = check_training_dir(save_dir, weights_count)
    assert epoch == EPOCHS and temporaries == []
