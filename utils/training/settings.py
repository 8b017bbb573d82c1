"""``TrainSettings``: everything a training run needs besides the data and the model.

Every field's default is the options table's (``utils.options``, mode ``train``), so
``TrainSettings()`` trains exactly like ``train.py`` with no flags, and
:meth:`TrainSettings.from_args` turns train.py's parsed flags into settings by field name.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from utils import options
from utils.config import parse_input_size
from utils.training.schedules import lr_function


def _opt(name: str) -> Any:
    """A dataclass field defaulting to option ``name`` in mode 'train'."""
    value = options.default(name, "train")
    if isinstance(value, (list, dict)):
        return field(default_factory=lambda: type(value)(value))
    return field(default=value)


@dataclass
class TrainSettings:
    """Training settings; ``lr`` None means the optimiser's default (``options.LR_PER_64``)."""

    backbone: str = _opt("backbone")
    alpha: float = _opt("alpha")
    input_size: tuple = _opt("input_size")  # N, "HxW" or (height, width)
    freeze_epochs: int = _opt("freeze_epochs")
    epochs: int = _opt("epochs")
    batch_size: int = _opt("batch_size")
    freeze_batch_size: int = _opt("freeze_batch_size")
    optimizer: str = _opt("optimizer")
    lr: float = _opt("lr")
    lr_schedule: str = _opt("lr_schedule")
    warmup_epochs: float = _opt("warmup_epochs")
    momentum: float = _opt("momentum")
    weight_decay: float = _opt("weight_decay")
    mosaic: float = _opt("mosaic")
    mixup: float = _opt("mixup")
    multi_scale: bool = _opt("multi_scale")
    aug_off_ratio: float = _opt("aug_off_ratio")
    label_smoothing: float = _opt("label_smoothing")
    focal_loss: bool = _opt("focal_loss")
    save_dir: str = _opt("save_dir")
    save_period: int = _opt("save_period")
    eval_period: int = _opt("eval_period")
    seed: int = _opt("seed")
    workers: int = _opt("workers")
    mixed_precision: bool = _opt("mixed_precision")
    jit_compile: bool = _opt("jit_compile")
    ema: bool = _opt("ema")
    sync_bn: bool = _opt("sync_bn")
    verbose: int = 1
    # Images per epoch, drawn afresh each epoch (None: all). train.py --train-slice sets it to
    # the number of images, so the tiles join them without making the epochs longer.
    epoch_images: int | None = None

    def __post_init__(self) -> None:
        self.input_size = parse_input_size(self.input_size)
        self.alpha = float(self.alpha)
        if self.lr is None:
            self.lr = options.default_lr(self.optimizer)

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides: Any) -> TrainSettings:
        """Settings from train.py's parsed flags (matched by name) and ``overrides``."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {name: value for name, value in vars(args).items() if name in names}
        values.update(overrides)
        return cls(**values)

    def phases(self) -> list[tuple[str, int, int, int]]:
        """[(name, first_epoch, end_epoch, batch_size)] for the frozen and unfrozen phases."""
        freeze = min(max(int(self.freeze_epochs), 0), int(self.epochs))
        result = []
        if freeze > 0:
            result.append(("frozen", 0, freeze, int(self.freeze_batch_size)))
        if self.epochs > freeze:
            result.append(("unfrozen", freeze, int(self.epochs), int(self.batch_size)))
        return result

    def lr_function(self, batch_size: int) -> Callable[[float], float]:
        """progress (epochs) -> LR for a phase trained at ``batch_size``."""
        return lr_function(
            self.lr, batch_size, self.optimizer, self.lr_schedule, self.epochs, self.warmup_epochs
        )
