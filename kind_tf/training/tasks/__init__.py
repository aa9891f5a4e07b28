"""Training stages: the :class:`Task` interface (:mod:`.base`) and each method's stages in a module of its own.

    kind_tf.training.tasks.base       Task, TaskContext, EvalResult, TASKS (the stage registry), make_task
    kind_tf.training.tasks.kind       decom, restore, adjust (KinD)
    kind_tf.training.tasks.zero_dce   zerodce (Zero-DCE++)
    kind_tf.training.tasks.kindpp     kindpp_decom, kindpp_illu, kindpp_restore (KinD++)

Importing this package registers the library's stages (in that order: ``TASKS.names()`` lists them so).
"""

from kind_tf.training.tasks.base import (
    TASKS,
    EvalResult,
    MeanScores,
    Task,
    TaskContext,
    gray3,
    image_row,
    make_task,
    preset_names,
    psnr_ssim,
    register_task,
    stack_rows,
)
from kind_tf.training.tasks.kind import AdjustTask, DecomTask, FrozenDecomTask, RestoreTask
from kind_tf.training.tasks.zero_dce import ZeroDCETask, torch_default_init

# isort: split
# (registration order is listing order: KinD++ after Zero-DCE++)
from kind_tf.training.tasks.kindpp import KinDPPDecomTask, KinDPPIlluminationTask, KinDPPRestoreTask

__all__ = ["TASKS", "AdjustTask", "DecomTask", "EvalResult", "FrozenDecomTask", "KinDPPDecomTask",
           "KinDPPIlluminationTask", "KinDPPRestoreTask", "MeanScores", "RestoreTask", "Task", "TaskContext",
           "ZeroDCETask", "gray3", "image_row", "make_task", "preset_names", "psnr_ssim", "register_task",
           "stack_rows", "torch_default_init"]
