# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Export the KinD pipeline as a SavedModel and serve it
#
# `kind_tf.export.export_kind` writes the whole pipeline — decomposition, restoration, illumination
# adjustment and the fusion — as one TensorFlow SavedModel with the signature **`enhance`**:
#
# | | name | dtype / shape | meaning |
# |---|---|---|---|
# | in | `image` | float32 `[N, H, W, 3]` | RGB in [0, 1] |
# | in | `ratio` | float32 `[N]` | one brightening **ratio** per image; ≤ 0 means auto |
# | out | `enhanced` | float32 `[N, H, W, 3]` | the result |
# | out | `illumination` | float32 `[N, H, W, 1]` | the adjusted illumination |
# | out | `reflectance` | float32 `[N, H, W, 3]` | the restored reflectance |
#
# Any batch, height and width (traced once). TensorFlow alone loads it — kind-tf need not be installed
# where it is served (TF Serving, a plain Python service, ...). Command line equivalent:
# `python -m kind_tf.export kind --weights checkpoints/kind --out export/kind`.

# %%
# %matplotlib inline
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # quieter TensorFlow start-up

import tempfile
import time
from pathlib import Path

import numpy as np

import kind_tf
from kind_tf.plotting import notebook_style, show

notebook_style()    # small notebooks: JPEG figures, 80 dpi

REPO = Path(kind_tf.__file__).resolve().parents[1]                     # this kind-tf checkout
SHARED = Path(os.environ.get("KIND_TF_SHARED", REPO.parent / "shared"))  # reference material: ../shared

# Everything this notebook writes goes into a temporary folder (removed at the end), never the checkout.
_workdir = tempfile.TemporaryDirectory(prefix="kind_tf_05_export_")
WORK = Path(_workdir.name)

# %%
import tensorflow as tf

from kind_tf.export import export_kind
from kind_tf.inference import KinD, default_weights_dir

tf.get_logger().setLevel("ERROR")          # no "INFO: Assets written to ..." lines
kind = KinD.from_weights(default_weights_dir())
EXPORT = WORK / "kind_savedmodel"
start = time.perf_counter()
export_kind(kind, EXPORT)
size = sum(p.stat().st_size for p in EXPORT.rglob("*") if p.is_file())
print(f"exported in {time.perf_counter() - start:.1f} s: {size / 1e6:.1f} MB")
for path in sorted(EXPORT.rglob("*")):
    print("  ", path.relative_to(EXPORT), "" if path.is_dir() else f"({path.stat().st_size:,} bytes)")

# %% [markdown]
# ## Reload it with plain TensorFlow
#
# `tf.saved_model.load` gives back the signature as a concrete function; inputs are passed by name.
# Keras also registers the first endpoint under the alias `serving_default`, the one TF Serving uses when a
# request names no signature.

# %%
loaded = tf.saved_model.load(str(EXPORT))
enhance = loaded.signatures["enhance"]
print("signatures:", list(loaded.signatures))
print("inputs: ", enhance.structured_input_signature[1])
print("outputs:", enhance.structured_outputs)

# %% [markdown]
# ## Two ratios in one batch
#
# The sample twice in one batch, brightened by 2 and by 5: one call, one ratio per image.

# %%
from kind_tf.enhance_job import SAMPLE_IMAGE
from kind_tf.io import load_image

image = load_image(SAMPLE_IMAGE)
ratios = np.array([2.0, 5.0], np.float32)
batch = np.stack([image, image])
start = time.perf_counter()
served = {name: value.numpy() for name, value in enhance(image=tf.constant(batch), ratio=tf.constant(ratios)).items()}
print(f"one call, batch of {len(batch)} at {image.shape[1]}x{image.shape[0]}: {time.perf_counter() - start:.2f} s")
for name, value in served.items():
    print(f"  {name:13s} {value.shape}")
show([image, served["enhanced"][0], served["enhanced"][1], served["illumination"][0], served["illumination"][1]],
     ["input", "enhanced, ratio 2", "enhanced, ratio 5", "adjusted I, ratio 2", "adjusted I, ratio 5"], width=16)

# %% [markdown]
# ## Same numbers as the Keras pipeline
#
# The SavedModel runs the very graph of `KinD.enhance` (untiled). The maximum absolute differences should
# be at float32 round-off level.

# %%
pairs = {"enhanced": "enhanced", "illumination": "adjusted_illumination", "reflectance": "restored_reflectance"}
worst = 0.0
for i, ratio in enumerate(ratios):
    reference = kind.enhance(image, ratio=float(ratio), return_intermediates=True, tile=None)
    diffs = {out: float(np.max(np.abs(served[out][i] - reference[ref]))) for out, ref in pairs.items()}
    worst = max(worst, *diffs.values())
    print(f"ratio {ratio:g}: max |SavedModel - Keras| " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
assert worst < 1e-4, worst

# %% [markdown]
# Any size, and the automatic ratio (`ratio` ≤ 0), through the same signature without retracing:

# %%
crop = image[100:300, 150:450]
out = enhance(image=tf.constant(crop[None]), ratio=tf.constant([0.0]))
keras_auto = kind.enhance(crop, ratio="auto", return_intermediates=True, tile=None)
print(f"crop {crop.shape[1]}x{crop.shape[0]}, auto ratio {float(keras_auto['ratio']):.2f}: "
      f"max |SavedModel - Keras| {np.max(np.abs(out['enhanced'][0].numpy() - keras_auto['enhanced'])):.2e}")
show([crop, out["enhanced"][0].numpy()], ["crop", "enhanced, ratio auto"], width=8)

# %% [markdown]
# ## Serving
#
# With TF Serving, place the export in a numbered version folder (`/models/kind/1/`) and start
# `tensorflow_model_server --model_name=kind --model_base_path=/models/kind`; the REST request is
#
# ```
# POST /v1/models/kind:predict
# {"signature_name": "enhance",
#  "inputs": {"image": [[[[0.02, 0.03, 0.01], ...]]], "ratio": [5.0]}}
# ```
#
# A batch holds images of one size. The pipeline needs about 0.9 KB of activations per pixel, so tile
# large photos on the client side (as `enhance.py` does) or use the uint8 export
# (`export_kind(kind, out, dtype="uint8")`: uint8 in and out, 4× less data over the wire).
# `python -m kind_tf.export zerodce --tflite zero_dce.tflite` exports Zero-DCE++ for mobile.

# %%
_workdir.cleanup()
print("removed", WORK)
