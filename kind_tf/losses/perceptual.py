"""Perceptual (feature reconstruction) loss, eq. (8), on VGG16 / VGG19 features (keras.applications).

    ℓ_feat^{φ,j}(ŷ, y) = 1/(C_j H_j W_j) · ‖φ_j(ŷ) − φ_j(y)‖²₂

averaged over the chosen layers j (Johnson et al. 2016). Keras' VGG conv layers include their ReLU,
so ``block3_conv4`` is relu3_4. Images in [0, 1] are scaled to [0, 255] and given the VGG "caffe"
preprocessing (RGB → BGR, minus the ImageNet mean) inside the graph; single-channel maps are
repeated to 3 channels.

Weights: ``weights="imagenet"`` uses Keras' cached ImageNet file (``~/.keras/models/
vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``, or under ``$KERAS_HOME/models``) and **never
downloads**: when it is missing a :class:`kind_tf.weights.WeightsError` says where to put it.
``weights=PATH`` loads that file, ``weights=None`` is a random VGG (for tests). keras.applications'
VGGs and the ``.h5`` weights load on every Keras backend, so the loss does too.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import keras
import numpy as np
from keras import ops

from kind_tf.errors import WeightsError
from kind_tf.losses.base import Tensor, absolute, pair, per_example_mean, reduce

#: Network → (keras.applications constructor name, ImageNet no-top weights file name).
VGG_NETWORKS = {
    "vgg16": ("VGG16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "vgg19": ("VGG19", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
}
#: Default feature layers: MBLLEN's context loss (VGG19 relu3_4) and Johnson et al.'s
#: feature-reconstruction layer (VGG16 relu2_2).
DEFAULT_LAYERS = {"vgg19": ("block3_conv4",), "vgg16": ("block2_conv2",)}
#: Caffe-mode ImageNet channel means, BGR order (keras.applications.imagenet_utils).
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


def imagenet_weights_candidates(network: str) -> list[Path]:
    """Where ``keras.utils.get_file`` caches the ImageNet no-top weights of ``network``: Keras' home
    ($KERAS_HOME, else ~/.keras) and its fallback /tmp/.keras, under models/."""
    filename = VGG_NETWORKS[network][1]
    homes = [Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras"), Path("/tmp/.keras")]
    return [home / "models" / filename for home in homes]


def resolve_weights(network: str, weights: str | os.PathLike | None) -> str | None:
    """The local weights file to load (None: random init). Never downloads."""
    if network not in VGG_NETWORKS:
        raise ValueError(f"unknown network {network!r}; expected one of {sorted(VGG_NETWORKS)}")
    if weights is None:
        return None
    if weights == "imagenet":
        for path in imagenet_weights_candidates(network):
            if path.is_file():
                return str(path)
        constructor = VGG_NETWORKS[network][0]
        raise WeightsError(
            f"the perceptual loss needs ImageNet {network.upper()} weights, not found locally "
            f"({', '.join(map(str, imagenet_weights_candidates(network)))}); kind-tf never downloads them: pass "
            f"weights=PATH to a {VGG_NETWORKS[network][1]}, or cache it once where the network is reachable "
            f"with keras.applications.{constructor}(include_top=False, weights='imagenet')")
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"{path}: no such {network.upper()} weights file for the perceptual loss")
    return str(path)


@cache
def feature_extractor(network: str = "vgg19", layers: tuple[str, ...] | None = None,
                      weights: str | None = "imagenet") -> keras.Model:
    """A frozen float32 keras.Model: preprocessed [N, H, W, 3] → the listed layers' activations.

    Cached per (network, layers, weights): build it outside ``tf.function`` / ``jax.jit`` / replica
    functions (the registry and :class:`PerceptualLoss` do) so its variables are created once.
    """
    layers = tuple(layers or DEFAULT_LAYERS[network])
    path = resolve_weights(network, weights)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")      # the loss network stays float32 under mixed precision
    try:
        constructor = getattr(keras.applications, VGG_NETWORKS[network][0])
        vgg = constructor(include_top=False, weights=path, input_shape=(None, None, 3))
        names = [layer.name for layer in vgg.layers]
        unknown = [name for name in layers if name not in names]
        if unknown:
            raise ValueError(f"unknown {network} layer(s) {unknown}; known: {names[1:]}")
        model = keras.Model(vgg.input, [vgg.get_layer(name).output for name in layers],
                            name=f"{network}_features")
    finally:
        keras.config.set_dtype_policy(previous)
    model.trainable = False
    return model


def vgg_preprocess(images: Tensor) -> Tensor:
    """[0, 1] RGB (or 1-channel) → VGG caffe input: ×255, RGB → BGR, minus the ImageNet mean."""
    if images.shape[-1] == 1:
        images = ops.concatenate([images] * 3, axis=-1)
    bgr = ops.flip(images * 255.0, axis=-1)
    return bgr - ops.convert_to_tensor(np.asarray(IMAGENET_BGR_MEAN, np.float32))


class PerceptualLoss:
    """``loss(y_true, y_pred, *, reduction="mean")`` on VGG features (see the module docstring).

    Args:
        network: "vgg19" or "vgg16".
        layers: feature layer names (keras.applications names, e.g. "block3_conv4").
        weights: "imagenet" (local Keras cache only), a weights file path, or None (random VGG).
        distance: "l2" (eq. 8, mean squared difference) or "l1" (mean absolute difference).
        layer_weights: per-layer weights (default: equal, averaging the layers).
    """

    def __init__(self, network: str = "vgg19", layers=None, weights="imagenet", distance: str = "l2",
                 layer_weights=None):
        if distance not in ("l1", "l2"):
            raise ValueError(f"distance must be 'l1' or 'l2', got {distance!r}")
        if network not in VGG_NETWORKS:
            raise ValueError(f"unknown network {network!r}; expected one of {sorted(VGG_NETWORKS)}")
        self.layers = tuple(layers or DEFAULT_LAYERS[network])
        self.layer_weights = (tuple(float(w) for w in layer_weights) if layer_weights is not None
                              else (1.0 / len(self.layers),) * len(self.layers))
        if len(self.layer_weights) != len(self.layers):
            raise ValueError(f"{len(self.layer_weights)} layer weights for {len(self.layers)} layers")
        self.distance = distance
        self.extractor = feature_extractor(network, self.layers, None if weights is None else str(weights))

    def __call__(self, y_true, y_pred, *, reduction: str = "mean") -> Tensor:
        y_true, y_pred = pair(y_true, y_pred, min_rank=4, channels=(1, 3))
        batch = ops.shape(y_pred)[0]
        features = self.extractor(vgg_preprocess(ops.concatenate([y_pred, y_true], axis=0)), training=False)
        if not isinstance(features, (list, tuple)):
            features = [features]
        total = 0.0
        for weight, feature in zip(self.layer_weights, features):
            difference = ops.cast(feature[:batch], "float32") - ops.cast(feature[batch:], "float32")
            distance = ops.square(difference) if self.distance == "l2" else absolute(difference)
            total += weight * per_example_mean(distance)
        return reduce(total, reduction)


def perceptual(y_true, y_pred, *, network: str = "vgg19", layers=None, weights="imagenet", distance: str = "l2",
               reduction: str = "mean") -> Tensor:
    """Perceptual loss, eq. (8), as a plain function (the VGG is built once per settings and cached;
    call it once eagerly before using it inside ``tf.function`` / ``jax.jit`` or a distribution strategy)."""
    loss = PerceptualLoss(network, None if layers is None else tuple(layers), weights, distance)
    return loss(y_true, y_pred, reduction=reduction)
