"""train.py's options: the schedule, augmentation, checkpoints and distribution."""

from utils.options.base import LR_PER_64, Option, PerMode

TRAINING_TABLE = {
    # ---------------------------------------------------------------- training schedule
    # Few epochs suffice when fine-tuning from the VOC weights (the figures in the README).
    "epochs": Option(60, "total epochs, frozen ones included", type=int),
    "freeze_epochs": Option(5, "first epochs with the backbone frozen (0: never)", type=int),
    # A backbone without pretrained weights learns everything: a longer run, never frozen.
    "random_init_epochs": Option(
        200,
        "total epochs when the backbone starts from random "
        "initialisation (no published weights, or --weights none) "
        "and --epochs is not given; such a run has no frozen phase "
        "unless --freeze-epochs is given",
        type=int,
    ),
    # Inference runs this many images per graph call (folders, evaluation); results are the
    # same for any batch size.
    "batch_size": Option(
        PerMode(predict=8, eval=8, train=8),
        PerMode(
            predict="images or video frames per run of the model (folders, lists, video "
            "files; live sources are detected a frame at a time)",
            eval="images per run of the model",
            train="batch size after unfreezing",
        ),
        type=int,
    ),
    # A frozen backbone needs no gradients, so a larger batch fits in the same memory.
    "freeze_batch_size": Option(16, "batch size while the backbone is frozen", type=int),
    "optimizer": Option(
        "adam", "adam (decoupled weight decay) or sgd (Nesterov)", choices=("adam", "sgd")
    ),
    # None: LR_PER_64 of the optimiser.
    "lr": Option(
        None,
        "initial LR for a batch of 64, scaled linearly to the batch size and "
        "clamped as the reference does (adam [3e-4, 1e-3], sgd [5e-4, 5e-2]); "
        f"default: adam {LR_PER_64['adam']:g} (= 1e-3 at batch 8 and 16), sgd "
        f"{LR_PER_64['sgd']:g}; the final LR is 1%% of it",
        type=float,
    ),
    "lr_schedule": Option(
        "cos", "cosine with warm-up, or ten equal steps", choices=("cos", "step")
    ),
    # None: 5% of the epochs, between 1 and 3.
    "warmup_epochs": Option(
        None, "warm-up length (default: 5%% of the epochs, between 1 and 3)", type=float
    ),
    "momentum": Option(0.937, "SGD momentum / Adam beta_1", type=float),
    "weight_decay": Option(5e-4, "decoupled weight decay (not on BatchNorm or biases)", type=float),
    "mosaic": Option(0.5, "mosaic probability", type=float),
    "mixup": Option(0.5, "probability of mixing a mosaic with another image", type=float),
    # The last 30% of the epochs see undistorted images, as in YOLOX.
    "aug_off_ratio": Option(
        0.7, "mosaic and mixup stop after this fraction of the epochs", type=float
    ),
    "label_smoothing": Option(0.0, "class targets y * (1 - ls) + ls / C", type=float),
    "focal_loss": Option(False, "focal objectness loss", action="store_true"),
    "save_period": Option(
        0, "also keep epNNN.h5 every N epochs (0: only last.h5 and best.h5)", type=int
    ),
    "eval_period": Option(
        10, "mAP@0.5 on the validation split every N epochs and at the end (0: off)", type=int
    ),
    "resume": Option(
        False,
        "continue the run saved in --save-dir (its settings are reused; "
        "flags given now override them)",
        action="store_true",
    ),
    # Training is random unless seeded; splits and k-means are seeded so reruns agree.
    "seed": Option(
        PerMode(train=None, anchors=0, annotate=0, check=0),
        PerMode(
            train="random seed (reproducible runs)",
            anchors="seed of the initial centres",
            annotate="seed of the random split",
            check="seed of the random split (--write-splits)",
        ),
        type=int,
    ),
    "workers": Option(None, "parallel data-loading workers (default: CPU count)", type=int),
    "mixed_precision": Option(
        False, "float16 (GPU) or bfloat16 (CPU) compute", action="store_true"
    ),
    "distribute": Option(
        "auto",
        "tf.distribute strategy: auto (several local GPUs: mirrored; "
        "TF_CONFIG naming a cluster: multiworker; else none)",
        choices=("auto", "none", "mirrored", "multiworker"),
    ),
    "cpu_replicas": Option(
        1,
        "with --distribute mirrored on a machine without GPUs, split the "
        "CPU into N replicas (to try replication; not faster)",
        type=int,
    ),
    "sync_bn": Option(
        False,
        "BatchNorm statistics over all replicas (synchronised BatchNorm)",
        action="store_true",
    ),
    # Measured on the raccoon fine-tune: no gain (94.3 / 97.4% with, 96.7% without) and a 4%
    # slower step, so off by default; long runs from scratch are where averaging pays.
    "ema": Option(
        False, "evaluate and save an exponential moving average of the weights", action="bool"
    ),
    # XLA is 4-7x slower on CPUs; try it on a GPU.
    "jit_compile": Option(
        False, "compile the train step with XLA (slower on CPU, try on GPU)", action="store_true"
    ),
}
