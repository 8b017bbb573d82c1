"""Training: settings, LR schedules, model set-up, the training loop, callbacks, history and the
resumable state. ``TrainSettings``, ``initialise_weights`` and ``train_detector`` are the entry
points."""

from utils.training.model_setup import initialise_weights
from utils.training.settings import TrainSettings
from utils.training.trainer import TrainResult, train_detector

__all__ = ["TrainResult", "TrainSettings", "initialise_weights", "train_detector"]
