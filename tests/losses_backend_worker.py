"""Computes every kind_tf loss on fixed inputs under whichever Keras backend KERAS_BACKEND names.

Used by tests/test_losses_backends.py twice: imported in the pytest process (TensorFlow), and run as a
script in one JAX subprocess (a process has one Keras backend):

    KERAS_BACKEND=jax python tests/losses_backend_worker.py INPUTS.npz OUT.npz

INPUTS.npz holds the seeded arrays the parent made (and the random VGG feature-extractor weights under
"vgg16/<i>" / "vgg19/<i>", so both backends use the same networks). OUT.npz gets one array per case
(:func:`compute`; on JAX all under one ``jax.jit``, so every loss also traces), "grad/<case>" gradients,
and "tensorflow_after_import" / "tensorflow_after_compute": the TensorFlow modules loaded at those points.
Nothing here imports TensorFlow, so under JAX any TensorFlow import would come from kind_tf.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

#: Registry losses (with their parameters) computed on the RGB pair; "perceptual*" use the VGG weights given.
RGB_REGISTRY = [
    ("l1", {}), ("l2", {}), ("smooth_l1", {}), ("smooth_l1", {"beta": 0.2}), ("huber", {}), ("huber", {"delta": 0.3}),
    ("log_mse", {}), ("ssim", {}), ("ms_ssim", {}), ("bce", {}), ("bce", {"from_logits": True}), ("region", {}),
    ("color_angle", {}), ("color_cosine", {}), ("color_cosine", {"levels": 2}), ("color_blur", {}),
    ("laplacian", {}), ("laplacian", {"levels": 5}), ("tv", {}), ("kind_gradient", {}), ("kind_restore", {}),
    ("perceptual", {"weights": None}), ("perceptual_vgg16", {"weights": None}),
]
#: Registry losses computed on the single-channel pair (the adjust stage's maps).
GRAY_REGISTRY = [("l1", {}), ("ssim", {}), ("ms_ssim", {}), ("region", {}), ("kind_gradient", {}), ("kind_adjust", {}),
                 ("laplacian", {}), ("perceptual", {"weights": None})]
#: Losses whose gradient with respect to y_pred is compared too.
GRADIENT_CASES = ["l2", "ssim", "ms_ssim", "region", "color_angle", "color_cosine", "laplacian", "kind_restore",
                  "perceptual", "tv"]


def case_name(name: str, params: dict) -> str:
    extra = ",".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "weights")
    return name + (f"[{extra}]" if extra else "")


def _set_vgg_weights(inputs: dict[str, np.ndarray]) -> None:
    """Give the registry's random VGG extractors the parent's weights (the extractors are cached)."""
    from kind_tf.losses import perceptual

    for network in ("vgg16", "vgg19"):
        extractor = perceptual.feature_extractor(network, perceptual.DEFAULT_LAYERS[network], None)
        count = len(extractor.get_weights())
        extractor.set_weights([inputs[f"{network}/{i}"] for i in range(count)])


def registry_cases(inputs: dict[str, np.ndarray]) -> dict[str, Callable[[Any, Any], Any]]:
    """case → loss(y_true, y_pred) with reduction="none" (per-example values [N])."""
    from kind_tf import losses

    cases = {}
    for prefix, table in (("rgb", RGB_REGISTRY), ("gray", GRAY_REGISTRY)):
        for name, params in table:
            loss = losses.get(name, **params)
            cases[f"{prefix}/{case_name(name, params)}"] = (lambda a, b, loss=loss: loss(a, b, reduction="none"))
    return cases


def registry_values(x: dict[str, Any], cases: dict[str, Callable[[Any, Any], Any]]) -> dict[str, Any]:
    """Every registry case on its inputs: the RGB or gray pair (logits for bce's from_logits, the quantised
    target, with many ties, for the RGB region loss)."""
    pairs = {"rgb": (x["rgb_true"], x["rgb_pred"]), "gray": (x["gray_true"], x["gray_pred"])}
    out = {}
    for case, loss in cases.items():
        y_true, y_pred = pairs[case.split("/")[0]]
        if "bce[from_logits" in case:
            y_pred = x["logits"]
        elif case.startswith("rgb/region"):
            y_true = x["rgb_quantised"]
        out[f"registry/{case}"] = loss(y_true, y_pred)
    return out


def compute(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every case's values as numpy arrays: eagerly on TensorFlow, in one ``jax.jit`` on JAX (as a training
    step runs them; JAX's op-by-op mode compiles every operation for every shape and is minutes slower)."""
    _set_vgg_weights(inputs)
    cases = registry_cases(inputs)
    return _run(lambda x: compute_tensors(x, cases), _arrays(inputs))


def _arrays(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The loss inputs (without the VGG weights)."""
    return {key: value for key, value in inputs.items() if not key.startswith(("vgg16/", "vgg19/"))}


def _run(function: Callable[[dict], dict], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        values = jax.jit(function)(arrays)
    else:
        values = function({key: keras.ops.convert_to_tensor(value) for key, value in arrays.items()})
    return {key: np.asarray(keras.ops.convert_to_numpy(value)) for key, value in values.items()}


def compute_tensors(x: dict[str, Any], cases: dict[str, Callable[[Any, Any], Any]]) -> dict[str, Any]:
    """Every case on the inputs ``x`` (backend tensors, or tracers under jax.jit)."""
    from keras import ops

    from kind_tf import backend, losses
    from kind_tf.losses import kind, similarity, zero_reference

    pairs = {"rgb": (x["rgb_true"], x["rgb_pred"]), "gray": (x["gray_true"], x["gray_pred"])}
    out: dict[str, Any] = registry_values(x, cases)
    out["registry/rgb/ms_ssim_unrelated"] = losses.ms_ssim(x["rgb_true"], x["rgb_unrelated"], reduction="none")
    # Other library losses (not in the registry) and combined specs.
    out["pixel/categorical"] = losses.categorical_crossentropy(x["labels"], x["probabilities"], reduction="none")
    out["pixel/categorical_logits"] = losses.categorical_crossentropy(x["labels"], x["class_logits"],
                                                                      from_logits=True, reduction="none")
    for mode in losses.GAN_MODES:
        out[f"adversarial/{mode}/discriminator"] = losses.discriminator_loss(x["real_logits"], x["fake_logits"],
                                                                             mode=mode, reduction="none")
        out[f"adversarial/{mode}/generator"] = losses.generator_loss(x["fake_logits"], mode=mode, reduction="none")
    out["adversarial/standard/generator_saturating"] = losses.generator_loss(x["fake_logits"], saturating=True,
                                                                             reduction="none")
    for spec, original, (y_true, y_pred) in (("l1:1,ssim:1,color_angle:0.5,laplacian:1", None, pairs["rgb"]),
                                             ("original:1,region:0.5", "kind_adjust", pairs["gray"])):
        for term, value in losses.parse_spec(spec, original=original).terms(y_true, y_pred).items():
            out[f"spec/{spec}/{term}"] = value
    # KinD's stage losses.
    decom = kind.decom_losses(x["low"], x["high"], x["reflectance_low"], x["illumination_low"],
                              x["reflectance_high"], x["illumination_high"])
    out.update({f"kind/decom/{term}": value for term, value in decom.items()})
    target = kind.restore_target(x["reflectance_high"])
    out["kind/restore_target"] = target
    out.update({f"kind/restore/{term}": value for term, value in kind.restore_losses(x["restored"], target).items()})
    adjust = kind.adjust_losses(x["illumination_low"], x["illumination_high"])
    out.update({f"kind/adjust/{term}": value for term, value in adjust.items()})
    out["kind/adjust_ratio"] = kind.adjust_ratio(x["illumination_low"], x["illumination_high"])
    for direction in ("x", "y"):
        out[f"kind/gradient_{direction}"] = kind.gradient(x["illumination_low"], direction)
    # Zero-DCE++'s zero-reference losses, the original's scalars and per image.
    for reduction in ("mean", "none"):
        terms = zero_reference.zero_dce_loss_terms(x["zero_dce_images"], x["zero_dce_enhanced"], x["zero_dce_curve"],
                                                   reduction=reduction)
        out.update({f"zero_reference/{reduction}/{term}": value for term, value in terms.items()})
    out["zero_reference/exposure_patch4"] = zero_reference.exposure_control_loss(x["zero_dce_enhanced"], 4, 0.5)
    out["distillation/sad"] = losses.sad_loss([x["features1"], x["features2"], x["features3"]])
    per_example = out["registry/rgb/l1"]
    out["backend/average_loss"] = backend.average_loss(per_example)
    out["backend/average_loss_global8"] = backend.average_loss(per_example, global_batch_size=8)
    out["backend/global_batch_extrema"] = ops.stack(backend.global_batch_extrema(x["rgb_pred"]))
    # SSIM / MS-SSIM values (kind_tf.losses.similarity) on random and real images, small and odd sizes included.
    for key in sorted(k for k in x if k.startswith("ssim_a/")):
        tag = key.split("/", 1)[1]
        a, b = x[key], x[f"ssim_b/{tag}"]
        out[f"similarity/ssim/{tag}"] = similarity.ssim(a, b)
        if min(a.shape[1:3]) >= 161:      # MS-SSIM's 5 scales fit (⌈size / 16⌉ ≥ 11)
            out[f"similarity/ms_ssim/{tag}"] = similarity.ms_ssim(a, b)
    return out


def gradients(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """d Σ loss / d y_pred of :data:`GRADIENT_CASES` (on the RGB pair), Zero-DCE++'s total loss (d / d
    enhanced) and KinD's decomposition loss (d / d R_low): ``tf.GradientTape`` eagerly, ``jax.grad`` in one
    ``jax.jit``."""
    import keras

    from kind_tf.losses import kind, zero_reference

    _set_vgg_weights(inputs)
    cases = registry_cases(inputs)
    arrays = _arrays(inputs)

    def functions(x):
        table = {f"grad/{name}": ("rgb_pred", lambda p, loss=cases[f"rgb/{name}"]: loss(x["rgb_true"], p))
                 for name in GRADIENT_CASES}
        table["grad/zero_dce_total"] = ("zero_dce_enhanced", lambda p: zero_reference.zero_dce_total_loss(
            x["zero_dce_images"], p, x["zero_dce_curve"]))
        table["grad/decom_total"] = ("reflectance_low", lambda p: kind.decom_losses(
            x["low"], x["high"], p, x["illumination_low"], x["reflectance_high"], x["illumination_high"])["total"])
        return table

    if keras.backend.backend() == "jax":
        import jax

        def all_gradients(x):
            return {name: jax.grad(lambda p, f=function: keras.ops.sum(f(p)))(x[argument])
                    for name, (argument, function) in functions(x).items()}

        return _run(all_gradients, arrays)
    import tensorflow as tf

    out = {}
    x = {key: tf.constant(value) for key, value in arrays.items()}
    for name, (argument, function) in functions(x).items():
        variable = tf.Variable(x[argument])
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(function(variable))
        out[name] = tape.gradient(value, variable).numpy()
    return out


def tensorflow_modules() -> np.ndarray:
    return np.asarray(sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")[:5] or [""])


def main(inputs_path: str, out_path: str) -> None:
    import keras

    import kind_tf.losses  # noqa: F401

    arrays: dict[str, np.ndarray] = {"tensorflow_after_import": tensorflow_modules(),
                                     "backend": np.asarray(keras.backend.backend())}
    inputs = dict(np.load(inputs_path))
    arrays.update(compute(inputs))
    arrays.update(gradients(inputs))
    arrays["tensorflow_after_compute"] = tensorflow_modules()
    np.savez(out_path, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:3])
