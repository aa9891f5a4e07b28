"""Name → loss registry and weighted loss specs ("mse:1,ssim:1,color_angle:0.5,laplacian:1").

    from kind_tf import losses
    ssim = losses.get("ssim")                       # ssim(y_true, y_pred, reduction="mean")
    combined = losses.parse_spec("l1:1,ssim:1,color_angle:0.5")
    combined(y_true, y_pred)                        # Σ weight · term, a float32 scalar
    combined.terms(y_true, y_pred)                  # {"l1": [N], "ssim": [N], "color_angle": [N], "total": [N]}

A spec is comma-separated ``name[:weight]`` terms (weight 1 when omitted, finite and ≥ 0), each name
used once. ``original`` stands for a stage's own recipe; it is only valid where the caller says
which registered loss that is (``parse_spec(spec, original="kind_restore")``, as train.py does).
Unknown names and malformed specs raise ValueError listing the valid names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from kind_tf.losses import color, perceptual, pixel, pyramid, structural
from kind_tf.losses.base import Tensor, check_reduction, reduce

ORIGINAL = "original"


@dataclass(frozen=True)
class LossEntry:
    """A registered loss: ``factory(**params)`` returns ``loss(y_true, y_pred, *, reduction)``."""

    name: str
    factory: Callable[..., Callable]
    description: str
    channels: tuple[int, ...] | None = None     # the image channel counts it accepts (None: any)


_REGISTRY: dict[str, LossEntry] = {}
_ALIASES: dict[str, str] = {}


def register(name: str, factory: Callable[..., Callable], description: str, *,
             channels: tuple[int, ...] | None = None, aliases: tuple[str, ...] = (), overwrite: bool = False) -> None:
    """Add a loss under ``name`` (lower case letters, digits, '_').

    Args:
        factory: ``factory(**params)`` → ``loss(y_true, y_pred, *, reduction="mean")`` (a class, or
            for a plain function :func:`function_factory`).
        description: one line for listings.
        channels: the channel counts the loss accepts, e.g. ``(3,)`` for the colour losses.
        aliases: other names of the same loss.
    """
    for key in (name, *aliases):
        if not key or not key.replace("_", "").isalnum() or key != key.lower() or key == ORIGINAL:
            raise ValueError(f"invalid loss name {key!r}: use lower-case letters, digits and '_' (not 'original')")
        if not overwrite and (key in _REGISTRY or key in _ALIASES):
            raise ValueError(f"loss {key!r} is already registered")
    _REGISTRY[name] = LossEntry(name, factory, description, channels)
    for alias in aliases:
        _ALIASES[alias] = name


def names(*, include_aliases: bool = True) -> list[str]:
    """Every registered loss name (and alias), sorted."""
    return sorted([*_REGISTRY, *(_ALIASES if include_aliases else ())])


def describe() -> str:
    """One line per registered loss: name (aliases), channels, description."""
    lines = []
    for name in sorted(_REGISTRY):
        item = _REGISTRY[name]
        aliases = [a for a, target in _ALIASES.items() if target == name]
        label = name + (f" ({', '.join(sorted(aliases))})" if aliases else "")
        accepts = "/".join(map(str, item.channels)) + "ch" if item.channels else "any"
        lines.append(f"{label:<24} {accepts:<6} {item.description}")
    return "\n".join(lines)


def entry(name: str) -> LossEntry:
    """The registry entry of ``name`` (or an alias); ValueError listing the valid names otherwise."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(names())}")
    return _REGISTRY[key]


def get(name: str, **params) -> Callable:
    """The loss ``name`` as ``loss(y_true, y_pred, *, reduction="mean")``, with ``params`` bound
    (e.g. ``get("huber", delta=0.1)``, ``get("perceptual", weights=None)``)."""
    return entry(name).factory(**params)


def function_factory(fn: Callable) -> Callable[..., Callable]:
    """The registry factory of a plain loss function: binds keyword parameters (none by default)."""
    def factory(**params):
        return partial(fn, **params) if params else fn
    return factory


class CombinedLoss:
    """A weighted sum of losses, built by :func:`parse_spec`.

    ``combined(y_true, y_pred, reduction="mean")`` returns Σ w_i · loss_i; ``combined.terms(...)``
    returns every unweighted term per example ([N], under the spec's names; a term with sub-terms,
    like the original KinD recipe, also logs them as "name/sub") and their weighted sum "total".
    """

    def __init__(self, terms: list[tuple[str, float, Callable]], spec: str, original: str | None = None):
        self._terms = terms
        self.spec = spec
        self.original = original

    @property
    def weights(self) -> dict[str, float]:
        return {name: weight for name, weight, _ in self._terms}

    @property
    def is_original(self) -> bool:
        """True for the spec ``original`` (weight 1) alone: the stage's default recipe."""
        return len(self._terms) == 1 and self._terms[0][0] == ORIGINAL and self._terms[0][1] == 1.0

    def terms(self, y_true, y_pred) -> dict[str, Tensor]:
        values: dict[str, Tensor] = {}
        weighted = []
        for name, weight, loss in self._terms:
            sub_terms = getattr(loss, "terms", None)
            if sub_terms is not None:
                parts = sub_terms(y_true, y_pred)
                value = parts["total"]
                values.update({f"{name}/{key}": part for key, part in parts.items() if key != "total"})
            else:
                value = loss(y_true, y_pred, reduction="none")
            values[name] = value
            weighted.append(weight * value)
        values["total"] = sum(weighted)
        return values

    def __call__(self, y_true, y_pred, *, reduction: str = "mean") -> Tensor:
        check_reduction(reduction)
        return reduce(self.terms(y_true, y_pred)["total"], reduction)

    def __repr__(self) -> str:
        return f"CombinedLoss({self.spec!r})"


def parse_spec(spec: str, *, original: str | None = None, channels: int | None = None) -> CombinedLoss:
    """Parse ``"name[:weight],…"`` into a :class:`CombinedLoss`.

    Args:
        spec: e.g. ``"mse:1,ssim:1,color_angle:0.5,laplacian:1"``.
        original: the registered loss that ``original`` means here (e.g. ``"kind_restore"``); with
            None, ``original`` is an error.
        channels: the channel count of the images the loss will see; losses that do not accept it
            (the colour losses on 1-channel maps) are refused here rather than when traced.

    Raises:
        ValueError: empty or malformed terms, bad weights, repeated or unknown names.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"empty loss spec; expected 'name[:weight],…' with names: {', '.join(names())}")
    terms: list[tuple[str, float, Callable]] = []
    seen: dict[str, str] = {}
    for raw in spec.split(","):
        text = raw.strip()
        if not text:
            raise ValueError(f"loss spec {spec!r} has an empty term; expected 'name[:weight],…'")
        name, _, weight_text = text.partition(":")
        name = name.strip().lower()
        if ":" in weight_text:
            raise ValueError(f"loss term {text!r}: expected 'name' or 'name:weight'")
        weight = 1.0
        if weight_text.strip() or text.endswith(":"):
            try:
                weight = float(weight_text)
            except ValueError:
                raise ValueError(f"loss term {text!r}: weight {weight_text.strip()!r} is not a number") from None
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"loss term {text!r}: the weight must be finite and ≥ 0")
        if name == ORIGINAL:
            if original is None:
                raise ValueError(f"'{ORIGINAL}' (a stage's own recipe) is not defined here; valid names: "
                                 f"{', '.join(names())}")
            key, loss_entry = ORIGINAL, entry(original)
        else:
            loss_entry = entry(name)
            key = loss_entry.name
        if key in seen:
            raise ValueError(f"loss spec {spec!r} names {key!r} twice ({seen[key]!r} and {name!r})")
        seen[key] = name
        if loss_entry.channels is not None and channels is not None and channels not in loss_entry.channels:
            accepted = " or ".join(map(str, loss_entry.channels))
            label = repr(name) + (f" ({loss_entry.name})" if loss_entry.name != name else "")
            raise ValueError(f"loss {label} needs {accepted}-channel images; this stage's outputs have "
                             f"{channels} channel(s)")
        terms.append((name, weight, loss_entry.factory()))
    normalized = ",".join(f"{name}:{weight:g}" for name, weight, _ in terms)
    return CombinedLoss(terms, normalized, original)


# --- the library's losses ---------------------------------------------------------------------------
_fn = function_factory
register("l1", _fn(pixel.l1), "mean absolute error (eq. 1)", aliases=("mae",))
register("l2", _fn(pixel.l2), "mean squared error (eq. 2)", aliases=("mse",))
register("smooth_l1", _fn(pixel.smooth_l1), "smooth L1, beta 1 (eq. 5)")
register("huber", _fn(pixel.huber), "Huber, delta 1 (eq. 6)")
register("log_mse", _fn(pixel.log_mse), "10·log10(MSE + 1e-8) in dB, per image (eq. 7)")
register("ssim", _fn(structural.ssim), "1 − SSIM with KinD's settings (eqs. 9–11)")
register("ms_ssim", _fn(structural.ms_ssim), "1 − MS-SSIM, scales fitted to the patch (eqs. 12–13)")
register("perceptual", perceptual.PerceptualLoss, "VGG19 relu3_4 feature MSE, local ImageNet weights (eq. 8)",
         channels=(1, 3))
register("perceptual_vgg16", partial(perceptual.PerceptualLoss, "vgg16"),
         "VGG16 relu2_2 feature MSE, local ImageNet weights (eq. 8)", channels=(1, 3))
register("bce", _fn(pixel.binary_crossentropy), "binary cross-entropy, the target as soft labels (eq. 14)")
register("region", _fn(pixel.region), "MBLLEN region L1: darkest 40% of the target weighted 4 (eq. 18)",
         channels=(1, 3))
register("color_angle", _fn(color.color_angle), "mean angle between RGB vectors (eq. 19)", channels=(3,))
register("color_cosine", _fn(color.color_cosine), "1 − mean cosine of RGB vectors (eq. 20)", channels=(3,))
register("color_blur", _fn(color.color_blur), "MSE of Gaussian-blurred images, sigma 3 (DPED)")
register("laplacian", _fn(pyramid.laplacian), "Laplacian-pyramid L1, 3 levels (eq. 21)")
register("tv", _fn(structural.total_variation), "total variation of the prediction (Zero-DCE's L_TV)")
register("kind_gradient", _fn(structural.kind_gradient), "KinD's normalised-gradient loss on the luma",
         channels=(1, 3))
register("kind_restore", _fn(structural.kind_restore), "KinD's restoration recipe: MSE + gradient + 1 − SSIM",
         channels=(3,))
register("kind_adjust", _fn(structural.kind_adjust), "KinD's adjustment recipe: MSE + gradient", channels=(1,))
