"""kind_tf.data: paired image discovery, decomposition caches and the tf.data patch pipeline."""

from kind_tf.data.pairs import DataError, Pair, find_pairs, load_pairs, normalize_uint8, read_rgb
from kind_tf.data.pipeline import ArraySource, ImagePairSource, PatchSource, Sampling, augment, patch_dataset

__all__ = ["DataError", "Pair", "find_pairs", "load_pairs", "normalize_uint8", "read_rgb", "ArraySource",
           "ImagePairSource", "PatchSource", "Sampling", "augment", "patch_dataset"]
