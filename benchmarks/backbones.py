#!/usr/bin/env python
"""Cost of each restoration backbone of the ablation (docs/ablation_backbones.md): parameters, FLOPs
and CPU inference time at 600×400.

    python benchmarks/backbones.py            # prints a Markdown table, writes results/backbones.json

Latency: median of ``--repeats`` timed calls of the network alone (``[R, I] → R_restored``,
tf.function traced once, float32), after one warm-up call, with the variants timed round-robin so a
shared or throttled CPU affects all of them alike; the ratio column divides by the original
RestorationNet measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# (row name, class, config): the rows of docs/ablation_backbones.md.
VARIANTS = [
    ("original RestorationNet", "RestorationNet", {}),
    ("improved U-Net (full)", "ImprovedUNet", {}),
    ("− stem", "ImprovedUNet", {"stem": False}),
    ("− FPN", "ImprovedUNet", {"fpn": False}),
    ("− SAD", "ImprovedUNet", {"sad": False}),
    ("plain encoder", "ImprovedUNet", {"encoder": "plain"}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--height", type=int, default=400)
    parser.add_argument("--width", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "backbones.json"))
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from kind_tf.models.improved_unet import count_flops
    from kind_tf.weights import build_stage

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    reflectance = rng.random((1, args.height, args.width, 3), np.float32)
    illumination = rng.random((1, args.height, args.width, 1), np.float32)
    rows, calls = [], []
    for name, class_name, config in VARIANTS:
        model = build_stage("restore", class_name, config)
        call = tf.function(lambda r, i, model=model: model([r, i], training=False))
        call(reflectance, illumination).numpy()   # trace + warm-up
        calls.append(call)
        rows.append({"variant": name, "class": class_name, "config": config, "parameters": model.count_params(),
                     "gflops": count_flops(model, args.height, args.width) / 1e9, "seconds": []})
    for _ in range(args.repeats):
        for row, call in zip(rows, calls):
            start = time.perf_counter()
            call(reflectance, illumination).numpy()
            row["seconds"].append(time.perf_counter() - start)
    base = float(np.median(rows[0]["seconds"]))
    print(f"| backbone | parameters | GFLOPs at {args.width}×{args.height} | CPU s (median of {args.repeats}) "
          "| vs original |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        row["median_s"] = float(np.median(row["seconds"]))
        print(f"| {row['variant']} | {row['parameters']:,} | {row['gflops']:.1f} | {row['median_s']:.3f} "
              f"| {row['median_s'] / base:.2f}× |")
    result = {"size": [args.height, args.width], "load_average": os.getloadavg(), "cpu_count": os.cpu_count(),
              "tensorflow": tf.__version__, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
