"""kind-tf's web demo: upload a dark photo, pick a method and a ratio, compare before and after, see R and L.

    kind-tf demo                                  # http://127.0.0.1:7860 on the shipped weights, nothing to set up
    python -m kind_tf.demo --port 8000            # the same; --host 0.0.0.0 to serve other machines

Needs the optional extra: pip install -e ".[demo]" (Gradio). The page offers every registered method that
has shipped weights (kind_tf.methods + kind_tf.presets), the ratio as a slider or 'auto', KinD's last step
(the weights' recipe, the original fusion or the plain recomposition R̂·L̂), a before/after slider, the
intermediates (R, L, restored R, adjusted L), the no-reference metrics (brightness, colour cast, NIQE) and
the enhanced PNG to download. Uploads are decoded like enhance.py's inputs (kind_tf.io.load_image: any
common format, EXIF orientation, 16-bit, CMYK) and enhanced with the same call (large images are tiled
within the same activation-memory budget); a bad upload gets a one-line message in the page.

Queue: one enhancement runs at a time (--concurrency 1) and at most 16 requests wait (--queue-size 16;
more are refused with "queue full"). One enhancement already uses every CPU core and up to ~1.5 GB of
activations, so running two at once would only split the cores and double the peak memory.

API: the endpoint "enhance" (image file, method, ratio as a number or 'auto' → the enhanced PNG), e.g.
    from gradio_client import Client, handle_file
    Client("http://127.0.0.1:7860").predict(handle_file("dark.jpg"), "kind", "auto", api_name="/enhance")
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kind_tf import methods as method_registry
from kind_tf.cli import script_help

if TYPE_CHECKING:
    import gradio as gr

SCRIPT = "python -m kind_tf.demo"
DEFAULT_HOST = "127.0.0.1"     # this machine only, unless --host says otherwise
DEFAULT_PORT = 7860            # Gradio's usual port
# One enhancement at a time: TensorFlow's intra-op pool already uses every core for one image, and each run
# may hold up to kind_tf.inference.DEFAULT_MAX_MEMORY_MB (1.5 GB) of activations before tiling kicks in.
CONCURRENCY_LIMIT = 1
QUEUE_SIZE = 16                # requests waiting beyond the running one; more get Gradio's "queue full"
MAX_UPLOAD = "100mb"           # a 100 MB upload is already a ~30 MP photo; larger ones are refused by Gradio
DISPLAY_SIDE = 1600            # the slider and gallery show images shrunk to this side (the PNG is full size)
KEPT_DOWNLOADS = 32            # enhanced PNGs kept for download (older ones are deleted: the demo's disk stays bounded)
RATIO_RANGE = (1.0, 10.0, 0.1)  # the slider: kind_tf.inference's auto-ratio search range, in steps of 0.1
DEFAULT_RATIO = 5.0            # the original evaluate.py's ratio
CONCURRENCY_ID = "enhance"     # the UI's and the API's enhancements share one queue slot

# KinD's last step as offered in the page: None = the weights' recipe.
FUSION_CHOICES: dict[str, bool | None] = {
    "the weights' recipe": None,
    "fusion with the input (original evaluate.py)": True,
    "recomposition R̂·L̂ (the paper)": False,
}
GALLERY_CAPTIONS = {"reflectance": "R (reflectance)", "illumination": "L (illumination)",
                    "restored_reflectance": "restored R", "adjusted_illumination": "adjusted L"}


class UploadError(ValueError):
    """A problem with what the user sent (no file, not an image, a bad ratio): one line for the page."""


def demo_methods() -> tuple[str, ...]:
    """The registered methods the demo can run with no other step: those with shipped weights (presets)."""
    return tuple(name for name in method_registry.names() if method_registry.get(name).presets)


class Pipelines:
    """The loaded pipelines, one per (method, fusion), loaded on first use from the method's default preset.

    Loading and the first trace take seconds, so each pipeline is loaded once and reused by every request;
    the lock keeps two first requests from loading the same weights twice.
    """

    def __init__(self, precision: str = "float32"):
        self.precision = precision
        self._loaded: dict[tuple[str, bool | None], Any] = {}
        self._lock = threading.Lock()

    def get(self, method: str, fusion: bool | None = None) -> Any:
        """The pipeline of ``method`` (a :func:`demo_methods` name) with ``fusion`` (None: the weights' recipe)."""
        if method not in demo_methods():
            raise UploadError(f"unknown method {method!r}; choose one of {', '.join(demo_methods())}")
        entry = method_registry.get(method)
        if "fusion" not in entry.options:
            fusion = None
        with self._lock:
            recipe = self._loaded.get((method, None))
            if fusion is not None and recipe is not None and getattr(recipe, "fusion", None) == fusion:
                return recipe   # the recipe already ends this way: no second copy of the networks
            if (method, fusion) not in self._loaded:
                from kind_tf.presets import preset_dir

                self._loaded[(method, fusion)] = entry.load(preset_dir(entry.presets[0]), precision=self.precision,
                                                            fusion=fusion)
            return self._loaded[(method, fusion)]


def parse_demo_ratio(ratio: float | str | None) -> float | str | None:
    """The API's ratio: a positive number or 'auto' (None / '' / 'recipe': the weights' default)."""
    from kind_tf.inference import parse_ratio

    if ratio is None or isinstance(ratio, str) and ratio.strip().lower() in ("", "recipe", "default"):
        return None
    try:
        value = parse_ratio(ratio)
    except ValueError as error:
        raise UploadError(str(error)) from None
    return "auto" if value == 0.0 else value


def read_upload(path: str | os.PathLike | None) -> tuple[np.ndarray, str]:
    """The uploaded file decoded as enhance.py decodes its inputs, and its name (without Gradio's cache folder).

    Errors name the file as the user knows it (its own name, not Gradio's temporary path).
    """
    from kind_tf.io import ImageReadError, load_image

    if not path:
        raise UploadError("no image: upload or drop a photo first")
    path = Path(path)
    try:
        return load_image(path), path.name
    except ImageReadError as error:
        raise UploadError(str(error).replace(str(path), path.name)) from None


def enhance_upload(pipelines: Pipelines, path: str | os.PathLike | None, method: str,
                   ratio: float | str | None = None, fusion: bool | None = None,
                   intermediates: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray], str]:
    """(input image, the pipeline's outputs, file name): enhance.py's decoding and call, for one upload.

    The call is enhance.py's (``enhance(image, ratio, return_intermediates, tile="auto")``), so large uploads
    are tiled within the same activation-memory budget and the output equals enhance.py's for the same
    settings. ``ratio`` is ignored by methods without one (Zero-DCE++).
    """
    image, name = read_upload(path)
    pipeline = pipelines.get(method, fusion)
    accepts_ratio = method_registry.get(method).accepts_ratio
    started, clock = time.time(), time.perf_counter()
    outputs = pipeline.enhance(image, ratio=ratio if accepts_ratio else None, return_intermediates=intermediates,
                               tile="auto")
    # One line per enhancement on the server's log (when, what, how long): the queue's effect is visible there.
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) + f".{int(started * 1000) % 1000:03d}"
    print(f"{stamp} enhanced {name} ({image.shape[1]}x{image.shape[0]}, {method}) in "
          f"{time.perf_counter() - clock:.3f} s", file=sys.stderr, flush=True)
    return image, outputs if isinstance(outputs, dict) else {"enhanced": outputs}, name


def display_copy(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """A uint8 RGB copy for the page, shrunk to at most ``side`` px (single-channel maps shown as gray)."""
    from PIL import Image

    from kind_tf.image_ops import to_uint8

    array = to_uint8(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if max(array.shape[:2]) <= side:
        return array
    thumbnail = Image.fromarray(array)
    thumbnail.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(thumbnail)


def metrics_markdown(image: np.ndarray, enhanced: np.ndarray, ratio: float | None = None) -> str:
    """The no-reference metrics of input and output (evaluate.py's: brightness, colour cast, NIQE) as a table."""
    from kind_tf.evaluation import niqe_or_nan
    from kind_tf.metrics import brightness, color_cast

    rows = ["| | input | enhanced |", "|---|---:|---:|"]
    for label, metric in (("brightness (mean RGB)", lambda x: float(brightness(x))),
                          ("colour cast (channel-mean spread)", lambda x: float(color_cast(x))),
                          ("NIQE (lower: more natural)", niqe_or_nan)):
        rows.append(f"| {label} | {metric(image):.3f} | {metric(enhanced):.3f} |")
    if ratio is not None:
        rows.append(f"\nratio used: **{ratio:.2f}**")
    return "\n".join(rows)


class Downloads:
    """Where the enhanced PNGs are written for download: a private temporary folder keeping the last few."""

    def __init__(self, kept: int = KEPT_DOWNLOADS):
        self.root = Path(tempfile.mkdtemp(prefix="kind-tf-demo-"))
        self._kept: deque[Path] = deque()
        self._size = kept
        self._lock = threading.Lock()

    def save(self, name: str, enhanced: np.ndarray) -> Path:
        """Write ``enhanced`` as ``<name's stem>_enhanced.png`` in a folder of its own; returns the path."""
        from kind_tf.io import save_png

        folder = self.root / uuid.uuid4().hex
        folder.mkdir()
        path = save_png(folder / f"{Path(name).stem}_enhanced.png", enhanced)
        with self._lock:
            self._kept.append(folder)
            while len(self._kept) > self._size:
                shutil.rmtree(self._kept.popleft(), ignore_errors=True)
        return path


def _page_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``function``, turning every exception into one line in the page (gr.Error), never a traceback.

    The user's own mistakes (:class:`UploadError`) show as they are; anything else is logged with its
    traceback on the server's stderr and shown as one line naming the exception.
    """
    import functools

    import gradio as gr

    @functools.wraps(function)
    def guarded(*args: Any) -> Any:
        try:
            return function(*args)
        except gr.Error:
            raise
        except UploadError as error:
            raise gr.Error(_one_line(str(error)), print_exception=False) from None
        except Exception as error:   # the page gets one line, the server log the traceback
            traceback.print_exc(file=sys.stderr)
            raise gr.Error(_one_line(f"enhancement failed: {type(error).__name__}: {error}"),
                           print_exception=False) from None

    return guarded


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def build_demo(pipelines: Pipelines | None = None, concurrency: int = CONCURRENCY_LIMIT) -> gr.Blocks:
    """The Gradio app (not launched): the page and the ``enhance`` API endpoint.

    Both enhancements (the page's and the API's) share one concurrency group of ``concurrency`` slots, so
    the limit bounds the server's work and memory whichever way requests arrive.
    """
    import gradio as gr

    pipelines = pipelines or Pipelines()
    downloads = Downloads()
    names = demo_methods()
    labels = {name: method_registry.get(name).title for name in names}
    ratio_methods = {name for name in names if method_registry.get(name).accepts_ratio}
    fusion_methods = {name for name in names if "fusion" in method_registry.get(name).options}

    def run_page(path: str | None, method: str, ratio: float, auto: bool, fusion_label: str) -> dict:
        fusion = FUSION_CHOICES.get(fusion_label)
        image, outputs, name = enhance_upload(pipelines, path, method, "auto" if auto else float(ratio), fusion,
                                              intermediates=True)
        enhanced = outputs["enhanced"]
        ratio_used = float(np.ravel(outputs["ratio"])[0]) if "ratio" in outputs else None
        gallery = [(display_copy(outputs[key]), caption) for key, caption in GALLERY_CAPTIONS.items() if key in outputs]
        note = "" if gallery else f"\n\n{labels[method]} has no Retinex decomposition (no R, L to show)."
        result = {gallery_box: gallery, metrics_box: metrics_markdown(image, enhanced, ratio_used) + note,
                  download_box: str(downloads.save(name, enhanced))}
        if comparison is not None:
            result[comparison] = (display_copy(image), display_copy(enhanced))
        else:
            result[before_box], result[after_box] = display_copy(image), display_copy(enhanced)
        return result

    def run_api(image: str | None, method: str, ratio: str | None) -> np.ndarray:
        """Enhance one image: file, method, ratio (a number, 'auto', or '' for the weights' default) → PNG."""
        from kind_tf.image_ops import to_uint8

        _, outputs, _ = enhance_upload(pipelines, image, method, parse_demo_ratio(ratio))
        return to_uint8(outputs["enhanced"])

    def method_changed(method: str) -> tuple:
        takes_ratio = method in ratio_methods
        return (gr.Slider(interactive=takes_ratio), gr.Checkbox(interactive=takes_ratio),
                gr.Radio(interactive=method in fusion_methods))

    with gr.Blocks(title="kind-tf: low-light enhancement", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# kind-tf — low-light image enhancement\nUpload or drop a dark photo, choose the method and "
                    "the ratio, press **Enhance**. Runs on kind-tf's shipped weights.")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="dark photo", file_types=list(_image_suffixes()), type="filepath",
                                 elem_id="upload")
                method_box = gr.Dropdown(choices=[(labels[n], n) for n in names], value=names[0], label="method",
                                         elem_id="method")
                auto_box = gr.Checkbox(value=True, label="auto ratio (mean output brightness 0.49)", elem_id="auto")
                ratio_box = gr.Slider(*RATIO_RANGE[:2], value=DEFAULT_RATIO, step=RATIO_RANGE[2],
                                      label="ratio (brightening; used when auto is off)", elem_id="ratio")
                fusion_box = gr.Radio(list(FUSION_CHOICES), value=next(iter(FUSION_CHOICES)),
                                      label="KinD's last step", elem_id="fusion")
                button = gr.Button("Enhance", variant="primary", elem_id="enhance")
            with gr.Column(scale=2):
                if hasattr(gr, "ImageSlider"):   # Gradio ≥ 5; older ones show the two side by side
                    comparison = gr.ImageSlider(label="before | after", format="png", type="numpy",
                                                interactive=False, elem_id="comparison")
                    before_box = after_box = None
                else:
                    comparison = None
                    with gr.Row():
                        before_box = gr.Image(label="before", format="png", interactive=False, elem_id="before")
                        after_box = gr.Image(label="after", format="png", interactive=False, elem_id="comparison")
                metrics_box = gr.Markdown(elem_id="metrics")
                download_box = gr.File(label="enhanced PNG (full size)", interactive=False, elem_id="download")
        gallery_box = gr.Gallery(label="intermediates: R, L, restored R, adjusted L", columns=4, format="png",
                                 elem_id="intermediates")
        outputs = [box for box in (comparison, before_box, after_box, metrics_box, download_box, gallery_box)
                   if box is not None]
        button.click(_page_errors(run_page), [upload, method_box, ratio_box, auto_box, fusion_box], outputs,
                     api_name="demo", api_visibility="undocumented", concurrency_limit=concurrency,
                     concurrency_id=CONCURRENCY_ID)
        method_box.change(method_changed, method_box, [ratio_box, auto_box, fusion_box], api_visibility="private",
                          queue=False)
        # The API endpoint: its own hidden ratio box (a number or 'auto') and output, fed by the same upload.
        api_ratio = gr.Textbox(value="auto", visible=False, label="ratio")
        api_output = gr.Image(format="png", type="numpy", visible=False, label="enhanced")
        api_button = gr.Button(visible=False)
        api_button.click(_page_errors(run_api), [upload, method_box, api_ratio], api_output, api_name="enhance",
                         api_description="Enhance one image: file, method, ratio (number or 'auto') → enhanced PNG",
                         concurrency_limit=concurrency, concurrency_id=CONCURRENCY_ID)
    return demo


def _image_suffixes() -> tuple[str, ...]:
    from kind_tf.io import IMAGE_SUFFIXES

    return IMAGE_SUFFIXES


def theme() -> Any:
    """Gradio's default theme with the system's fonts: the default loads Google Fonts, which an offline
    machine (or a browser test without network) waits for."""
    import gradio as gr

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])


def build_parser(prog: str = SCRIPT) -> argparse.ArgumentParser:
    """The demo's options; ``prog`` names the command in usage lines (python -m kind_tf.demo or kind-tf demo)."""
    parser = argparse.ArgumentParser(prog=prog, description=script_help(__doc__, SCRIPT.removeprefix("python "), prog),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to serve on (default {DEFAULT_HOST}: "
                                                             "this machine only; 0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY_LIMIT,
                        help=f"enhancements running at once (default {CONCURRENCY_LIMIT})")
    parser.add_argument("--queue-size", type=int, default=QUEUE_SIZE,
                        help=f"requests waiting at most; more are refused (default {QUEUE_SIZE})")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                        help="network compute precision (as enhance.py's)")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own start-up log lines")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = SCRIPT) -> int:
    """Serve the demo until interrupted; returns the exit code (2: a usage error or Gradio missing)."""
    args = build_parser(prog).parse_args(argv)
    for flag, value in (("--port", args.port), ("--concurrency", args.concurrency), ("--queue-size", args.queue_size)):
        if value < 1 or flag == "--port" and value > 65535:
            print(f"error: {flag}: out of range ({value})", file=sys.stderr)
            return 2
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")   # no calls home from a local demo
    if importlib.util.find_spec("gradio") is None:
        print('error: the demo needs Gradio: pip install "kind-tf[demo]" (or pip install -e ".[demo]")',
              file=sys.stderr)
        return 2
    from kind_tf._quiet import start_backend

    start_backend(args.verbose)
    pipelines = Pipelines(args.precision)
    # Load and trace the default method now, so the first visitor does not wait for it (and missing
    # weights are reported at start, not in the page).
    default = demo_methods()[0]
    pipelines.get(default).enhance(np.zeros((32, 32, 3), np.float32))
    demo = build_demo(pipelines, args.concurrency)
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    print(f"kind-tf demo: methods {', '.join(demo_methods())}; {args.concurrency} enhancement(s) at a time, "
          f"{args.queue_size} waiting at most", file=sys.stderr)
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD, show_error=False,
                ssr_mode=False, theme=theme(), footer_links=["api"], quiet=False)
    return 0


if __name__ == "__main__":
    from kind_tf._quiet import assume_frozen_weights

    assume_frozen_weights()   # the demo only enhances (see kind_tf._quiet.assume_frozen_weights)
    sys.exit(main())
