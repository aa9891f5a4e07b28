"""kind_tf.data: paired image discovery, decomposition caches, sampling, and the tf.data patch pipeline.

Everything but the tf.data pipeline is framework-free (numpy + Pillow), so the JAX trainer's data path
imports no TensorFlow; ``augment`` and ``patch_dataset`` (TensorFlow) are imported on first use.
"""

from kind_tf.data.pairs import DataError, Pair, find_pairs, load_pairs, normalize_uint8, read_rgb
from kind_tf.data.sampling import ArraySource, ImagePairSource, PatchSource, Sampling

__all__ = ["DataError", "Pair", "find_pairs", "load_pairs", "normalize_uint8", "read_rgb", "ArraySource",
           "ImagePairSource", "PatchSource", "Sampling", "augment", "patch_dataset"]


def __getattr__(name: str):
    if name in ("augment", "patch_dataset"):
        from kind_tf.data import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'kind_tf.data' has no attribute {name!r}")
