"""kind_tf.training: one generic trainer + a small Task per training stage of each method (kind_tf.training.tasks)."""

from kind_tf.data.pairs import DataError
from kind_tf.training.config import ConfigError, StageRecipe, TrainConfig, presets
from kind_tf.training.tasks import TASKS, AdjustTask, DecomTask, RestoreTask, Task, make_task, register_task
from kind_tf.training.trainer import Trainer, TrainingDiverged, TrainResult, train
from kind_tf.weights import WeightsError

# Errors that are the user's to fix: train.py prints them as one line and exits with status 2.
USER_ERRORS = (DataError, ConfigError, WeightsError)

__all__ = ["presets", "ConfigError", "StageRecipe", "TrainConfig", "TASKS", "AdjustTask", "DecomTask",
           "RestoreTask", "Task", "make_task", "register_task", "Trainer", "TrainingDiverged", "TrainResult",
           "train", "DataError", "USER_ERRORS"]
