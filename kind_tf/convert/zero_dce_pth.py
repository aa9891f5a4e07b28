"""Convert the released Zero-DCE++ PyTorch weights (``Epoch99.pth``) to kind-tf, without torch.

A ``torch.save`` file (zip format, torch ≥ 1.6) is a zip archive holding ``<prefix>/data.pkl``, a
pickle whose tensors are ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``
calls, and ``<prefix>/data/<key>`` files with each storage's raw bytes (little-endian unless a
``<prefix>/byteorder`` record says otherwise). ``data.pkl`` is read with a restricted
``pickle.Unpickler`` that can build only an ``OrderedDict`` of tensors: any other global raises
:class:`UnsafePickleError`, so a hostile file cannot run code. Plain ``pickle.load`` is never used.

Layouts: PyTorch convs are OIHW, Keras kernels HWIO:
depthwise ``[in, 1, 3, 3]`` → ``DepthwiseConv2D`` ``[3, 3, in, 1]``;
pointwise ``[out, in, 1, 1]`` → ``Conv2D`` ``[1, 1, in, out]``. Both frameworks cross-correlate,
so no kernel flip is needed.

Output directory: a kind-tf weights folder (:mod:`kind_tf.weights`: method ``zerodce``, one stage
``zerodce`` = :class:`ZeroDCEPlusPlus`, recipe ``{"scale_factor": 12}``, the .pth's name and sha256 as
provenance); load with :func:`load_zero_dce`.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kind_tf.models.zero_dce import (
    CURVE_ITERATIONS,
    DCE_FILTERS,
    INFERENCE_SCALE_FACTOR,
    ZeroDCEPlusPlus,
)
from kind_tf.weights import WeightsError, load_stage, read_config, save_weights

METHOD = "zerodce"     # the method and the stage name in the weights folder (kind_tf.methods.zero_dce)
STAGE = "zerodce"


class UnsafePickleError(pickle.UnpicklingError):
    """``data.pkl`` referenced something a state dict never needs."""


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co.: only the element type matters here."""

    name: str
    dtype: np.dtype


# torch storage class name → element type (typed storages as torch.save writes them).
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


def _rebuild_tensor_v2(
    storage: np.ndarray,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> np.ndarray:
    """numpy version of ``torch._utils._rebuild_tensor_v2``: a strided view of ``storage``, copied.

    Offsets and strides are bounds-checked first: ``as_strided`` must never read outside the
    storage, whatever the file says.
    """
    if not isinstance(storage, np.ndarray):
        raise pickle.UnpicklingError(f"tensor storage must come from the archive, got {type(storage).__name__}")
    size, stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
    storage_offset = int(storage_offset)
    if len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise pickle.UnpicklingError(f"bad tensor geometry: size {size}, stride {stride}")
    if 0 in size:
        return np.zeros(size, dtype=storage.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
    if storage_offset < 0 or last >= storage.size:
        raise pickle.UnpicklingError(
            f"tensor (offset {storage_offset}, size {size}, stride {stride}) "
            f"overruns its storage of {storage.size} elements"
        )
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:],
        shape=size,
        strides=tuple(s * itemsize for s in stride),
        writeable=False,
    )
    return np.array(view, copy=True)


def _rebuild_parameter(data: np.ndarray, requires_grad: bool = False, backward_hooks: Any = None) -> np.ndarray:
    """``torch._utils._rebuild_parameter``: an ``nn.Parameter`` is just its tensor here."""
    return data


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickler for a torch state dict that refuses every global outside a short allow-list."""

    _ALLOWED: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        **{("torch", name): _StorageType(name, np.dtype(dtype)) for name, dtype in _STORAGE_DTYPES.items()},
    }

    def __init__(self, file: io.BufferedIOBase, archive: zipfile.ZipFile, prefix: str, byteorder: str) -> None:
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._byteorder = byteorder
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: not part of a tensor state dict"
            ) from None

    def persistent_load(self, pid: Any) -> np.ndarray:
        # torch.save writes ('storage', storage_type, key, location, numel); location
        # ('cuda:0' in the release) is irrelevant to raw bytes.
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"unsupported persistent id {pid!r}: expected a torch storage")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"unsupported storage type {storage_type!r}")
        key = str(key)
        if key not in self._storages:
            name = f"{self._prefix}data/{key}"
            try:
                raw = self._archive.read(name)
            except KeyError:
                raise pickle.UnpicklingError(f"storage {name} is missing from the archive") from None
            dtype = storage_type.dtype.newbyteorder("<" if self._byteorder == "little" else ">")
            if len(raw) < int(numel) * dtype.itemsize:
                raise pickle.UnpicklingError(
                    f"storage {name} holds {len(raw)} bytes, {int(numel)} × {dtype.itemsize} expected"
                )
            array = np.frombuffer(raw, dtype=dtype, count=int(numel))
            self._storages[key] = array.astype(storage_type.dtype.newbyteorder("="), copy=False)
        return self._storages[key]


def load_pth_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a zip-format ``torch.save`` state dict into numpy arrays, without torch.

    Args:
        path: ``.pth`` file (a zip archive with ``<prefix>/data.pkl``).

    Returns:
        ``{name: array}`` in the file's order, PyTorch layouts (e.g. conv weights OIHW).

    Raises:
        ValueError: not a zip-format torch file, or the pickle is not a mapping of tensors.
        UnsafePickleError: the pickle references anything but tensors / storages / OrderedDict.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a zip-format torch file (legacy torch < 1.6 pickles are unsupported)")
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if f"{prefix}byteorder" in archive.namelist():
            byteorder = archive.read(f"{prefix}byteorder").decode("ascii").strip()
            if byteorder not in ("little", "big"):
                raise ValueError(f"{path}: unknown byteorder record {byteorder!r}")
        with archive.open(pickles[0]) as file:
            obj = _StateDictUnpickler(file, archive, prefix, byteorder).load()
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()
    ):
        raise ValueError(f"{path}: expected a state dict (name → tensor), got {type(obj).__name__}")
    return dict(obj)


def _keras_layout(name: str, tensor: np.ndarray) -> np.ndarray:
    """PyTorch → Keras layout for one ``e_convK.{depth,point}_conv.{weight,bias}`` tensor."""
    if name.endswith("depth_conv.weight"):
        return tensor.transpose(2, 3, 0, 1)  # [in, 1, kh, kw] → [kh, kw, in, 1]
    if name.endswith("point_conv.weight"):
        return tensor.transpose(2, 3, 1, 0)  # [out, in, 1, 1] → [1, 1, in, out]
    return tensor  # biases


def _model_variables(model: ZeroDCEPlusPlus) -> dict[str, Any]:
    """The model's variables keyed by their PyTorch state-dict names."""
    variables = {}
    for block in model.blocks:
        for conv_name in ("depth_conv", "point_conv"):
            conv = getattr(block, conv_name)
            variables[f"{block.name}.{conv_name}.weight"] = conv.kernel
            variables[f"{block.name}.{conv_name}.bias"] = conv.bias
    return variables


def assign_state_dict(model: ZeroDCEPlusPlus, state_dict: Mapping[str, np.ndarray]) -> None:
    """Copy an ``enhance_net_nopool`` state dict (PyTorch layouts) into a built ``model``.

    A ``module.`` prefix (``nn.DataParallel`` checkpoints) is stripped.

    Raises:
        ValueError: one error listing every missing, unexpected and mis-shaped tensor.
    """
    if not model.built:
        model.build((None, None, None, 3))
    state_dict = {k.removeprefix("module."): np.asarray(v) for k, v in state_dict.items()}
    variables = _model_variables(model)
    missing = [k for k in variables if k not in state_dict]
    unexpected = [k for k in state_dict if k not in variables]
    converted = {k: _keras_layout(k, v) for k, v in state_dict.items() if k in variables}
    misshaped = [
        f"{k} {list(state_dict[k].shape)} (Keras {list(variables[k].shape)} ← {list(v.shape)})"
        for k, v in converted.items()
        if tuple(v.shape) != tuple(variables[k].shape)
    ]
    if missing or unexpected or misshaped:
        problems = [
            f"{label}: {', '.join(items)}"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
            if items
        ]
        raise ValueError("Zero-DCE++ state dict does not match the model; " + "; ".join(problems))
    for k, v in converted.items():
        variables[k].assign(v.astype(variables[k].dtype))


def convert_zero_dce_pth(
    pth_path: str | Path, out_dir: str | Path, scale_factor: int = INFERENCE_SCALE_FACTOR
) -> Path:
    """Convert a released Zero-DCE++ ``.pth`` into ``out_dir`` (created if needed).

    Args:
        pth_path: e.g. ``Epoch99.pth`` from Li-Chongyi/Zero-DCE_extension.
        out_dir: the weights folder to write (``zerodce.weights.h5`` and ``config.json``).
        scale_factor: the inference scale the recipe records (12, as the original test script).

    Returns:
        ``out_dir`` as a Path.
    """
    pth_path, out_dir = Path(pth_path), Path(out_dir)
    state_dict = load_pth_state_dict(pth_path)
    model = ZeroDCEPlusPlus(scale_factor=scale_factor, iterations=CURVE_ITERATIONS, filters=DCE_FILTERS)
    model.build((None, None, None, 3))
    assign_state_dict(model, state_dict)
    source = {
        "file": pth_path.name,
        "sha256": hashlib.sha256(pth_path.read_bytes()).hexdigest(),
        "format": "torch state_dict (enhance_net_nopool), converted without torch",
        "param_count": int(model.count_params()),
    }
    return save_weights(out_dir, {STAGE: model}, {"source": source}, method=METHOD,
                        recipe={"scale_factor": model.scale_factor})


def load_zero_dce(weights_dir: str | Path, scale_factor: int | None = None) -> ZeroDCEPlusPlus:
    """The :class:`ZeroDCEPlusPlus` of a Zero-DCE++ weights folder (converted or trained).

    Args:
        weights_dir: a kind-tf weights folder of method ``zerodce`` (older ``{"model": "zero_dce"}``
            folders read too: :func:`kind_tf.weights.read_config`).
        scale_factor: override the recipe's scale factor (e.g. 1 to fine-tune at full resolution).

    Raises:
        WeightsError: one line naming the folder or file and the problem.
    """
    config = read_config(weights_dir)
    if config["method"] != METHOD:
        raise WeightsError(f"{weights_dir}: holds {config['method']} weights, not Zero-DCE++ ({METHOD})")
    if scale_factor is None:
        scale_factor = (config.get("recipe") or {}).get("scale_factor", INFERENCE_SCALE_FACTOR)
    return load_stage(weights_dir, STAGE, scale_factor=scale_factor)
