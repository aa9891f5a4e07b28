"""Importers of original weights (KinD TF1 checkpoints, Zero-DCE++ PyTorch .pth)."""

from kind_tf.convert.kind_tf1 import CheckpointMismatchError, convert_kind_tf1, load_tf1_checkpoint

__all__ = ["CheckpointMismatchError", "convert_kind_tf1", "load_tf1_checkpoint"]
