"""Importers of original weights (KinD and KinD++ TF1 checkpoints, Zero-DCE++ PyTorch .pth).

The names below are loaded on first use, so that ``python -m kind_tf.convert`` can start TensorFlow
quietly itself (kind_tf._quiet) before the importers pull it in.
"""

__all__ = ["CheckpointMismatchError", "convert_kind_tf1", "convert_kindpp_tf1", "load_tf1_checkpoint"]


def __getattr__(name: str):
    if name == "convert_kindpp_tf1":
        from kind_tf.convert import kindpp_tf1

        return kindpp_tf1.convert_kindpp_tf1
    if name in __all__:
        from kind_tf.convert import kind_tf1

        return getattr(kind_tf1, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
