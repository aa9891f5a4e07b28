"""Training steps per second of each KinD stage at the original recipe's batch and patch size, on the
TensorFlow and the JAX backend, measured in the same run (each backend in its own process, alternately).

    python benchmarks/training_steps.py [--steps 6] [--repeats 2] [--stages decom,adjust,restore]

Data: 8 synthetic 416×416 pairs (the restore patch is 384); the restore/adjust stages use a freshly
initialised frozen DecomNet (speed does not depend on the weights). The first step (tracing and
compilation) is excluded. Writes benchmarks/results/training_steps.{json,md} with the machine described.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = {"decom": (10, 48), "adjust": (10, 48), "restore": (4, 384)}   # (batch, patch), TRAINING.md

WORKER = r"""
import json, sys, time
from pathlib import Path
from kind_tf.training import TrainConfig, Trainer
data, initial, run, stage, batch, patch, steps = sys.argv[1:8]
config = TrainConfig(stage=stage, data=data, run_dir=run, decom_weights=initial, steps=int(steps),
                     batch_size=int(batch), patch_size=int(patch), save_every=10**9, eval_every=10**9,
                     eval_images=0, log_every=10**9, progress=False, strategy="default")
result = Trainer(config).run()
print("RESULT" + json.dumps({"steps_per_second": result.steps_per_second}))
"""


def machine() -> dict:
    info = {"cpu": "unknown", "logical_cores": os.cpu_count(), "python": platform.python_version(),
            "loadavg": os.getloadavg(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        text = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
        flags = set(next(line for line in text.splitlines() if line.startswith("flags")).split(":", 1)[1].split())
        info["isa"] = sorted(flags & {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni"})
    except (OSError, StopIteration):
        pass
    versions = subprocess.run([sys.executable, "-c", "import keras, jax, tensorflow as tf; "
                               "print(keras.__version__, jax.__version__, tf.__version__)"],
                              capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    info["keras"], info["jax"], info["tensorflow"] = (versions.stdout.split() + ["?"] * 3)[:3]
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--stages", default="decom,adjust,restore")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from test_training import write_pairs

    from kind_tf.weights import build_model, build_stage, save_weights

    root = Path(tempfile.mkdtemp(prefix="kind_train_bench_"))
    data = write_pairs(root / "train", 8, size=(416, 416))
    decom = build_stage("decom")
    build_model(decom, "decom")
    save_weights(root / "initial", {"decom": decom}, {})
    rows = []
    for stage in args.stages.split(","):
        batch, patch = RECIPE[stage]
        for repeat in range(args.repeats):
            for backend in ("tensorflow", "jax"):
                env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
                run = root / f"run_{stage}_{backend}_{repeat}"
                result = subprocess.run([sys.executable, "-c", WORKER, str(data), str(root / "initial"), str(run),
                                         stage, str(batch), str(patch), str(args.steps)], env=env,
                                        capture_output=True, text=True, timeout=3600)
                if result.returncode:
                    print(result.stderr[-2000:], file=sys.stderr)
                    return 1
                rate = json.loads(result.stdout.split("RESULT", 1)[1])["steps_per_second"]
                rows.append({"stage": stage, "backend": backend, "repeat": repeat, "batch": batch, "patch": patch,
                             "steps_per_second": rate, "seconds_per_step": 1.0 / rate})
                print(f"{stage:8s} {backend:10s} batch {batch} × {patch}²: {1.0 / rate:.3f} s/step", flush=True)
    payload = {"machine": machine(), "steps": args.steps, "rows": rows}
    out = REPO / "benchmarks" / "results"
    (out / "training_steps.json").write_text(json.dumps(payload, indent=1))
    lines = ["# Training step time per stage, TensorFlow vs JAX (same run)\n",
             f"Machine: {payload['machine']['cpu']}, {payload['machine']['logical_cores']} logical cores, ISA "
             f"{', '.join(payload['machine'].get('isa', []))}; Keras {payload['machine']['keras']}, TensorFlow "
             f"{payload['machine']['tensorflow']}, JAX {payload['machine']['jax']}; load average "
             f"{', '.join(f'{v:.2f}' for v in payload['machine']['loadavg'])} at the start.\n",
             "Median over repeats of the mean step time after the first step; float32, one device.\n",
             "| stage | batch × patch | TensorFlow s/step | JAX s/step | JAX / TF |", "|---|---|---|---|---|"]
    for stage in args.stages.split(","):
        times = {b: sorted(r["seconds_per_step"] for r in rows if r["stage"] == stage and r["backend"] == b)
                 for b in ("tensorflow", "jax")}
        tf_time, jax_time = (times[b][len(times[b]) // 2] for b in ("tensorflow", "jax"))
        batch, patch = RECIPE[stage]
        lines.append(f"| {stage} | {batch} × {patch}² | {tf_time:.3f} | {jax_time:.3f} | {jax_time / tf_time:.2f} |")
    (out / "training_steps.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
