"""Train a KinD stage on the accelerator machine (JAX, no TensorFlow) in runs of under 10 minutes.

That machine (see the README's "Backends and accelerators") has Python 3.12, JAX with CUDA, numpy,
Pillow, h5py, ml-dtypes and rich, but no TensorFlow and no Keras; a run carries at most 64 MiB (the
checkout included) and returns at most 8 files of ≤ 16 MiB. So:

    # here: the wheels the machine lacks (Keras and its pure-Python dependencies) + the training pairs
    python tools/accelerator.py prepare                       # → .accelerator/ (git-ignored: name it in the
                                                              #   device run's carry list, carry=[".accelerator"])
    # there, one command per run (each < 10 min; re-running resumes from the carried checkpoint):
    python tools/accelerator.py run --stage restore --minutes 8 --decom-weights checkpoints/kind --out $OUT
    # here: join the returned shards into a weights folder (checked against their sha256)
    python tools/accelerator.py reassemble FILES_DIR --out runs/accelerator/weights

``run`` installs the carried wheels when Keras is missing, sets KERAS_BACKEND=jax, trains with
:class:`kind_tf.training.Trainer` (the same recipes, presets, data and checkpoints as ``train.py``) until
the stage's steps are done or ``--minutes`` have passed, then writes to ``--out``: the exported weights
and (when it fits the return limit) the checkpoint, both split into shards with a manifest, the scalar
log and a summary (steps, steps/s, status). ``--resume-from DIR`` (a previous run's returned files,
carried back) continues from that checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CARRY_DIR = REPO / ".accelerator"
WHEELS = ("keras==3.15.1", "optree", "namex", "absl-py", "tqdm", "packaging")
SHARD_BYTES = 15 * 2**20          # returned files must be ≤ 16 MiB
MAX_RETURNED_FILES = 8
MANIFEST = "manifest.json"


# ---------------------------------------------------------------------------------------------------- shards
def split_file(path: Path, out_dir: Path, prefix: str, shard_bytes: int = SHARD_BYTES) -> list[dict]:
    """Split ``path`` into ``out_dir/<prefix>.partNN`` shards of at most ``shard_bytes``; their manifest rows."""
    rows, index = [], 0
    with open(path, "rb") as source:
        while chunk := source.read(shard_bytes):
            name = f"{prefix}.part{index:02d}"
            (out_dir / name).write_bytes(chunk)
            rows.append({"shard": name, "file": prefix, "bytes": len(chunk),
                         "sha256": hashlib.sha256(chunk).hexdigest()})
            index += 1
    return rows


def reassemble(files_dir: Path, out_dir: Path, group: str = "weights") -> Path:
    """Join the shards of ``group`` ("weights" or "checkpoint") listed in the manifest into ``out_dir``.

    Every shard's sha256 is checked, and files are written to a temporary name first, so a missing or
    corrupt shard leaves nothing half-written."""
    manifest = json.loads((files_dir / MANIFEST).read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[dict]] = {}
    for row in manifest[group]:
        files.setdefault(row["file"], []).append(row)
    for name, rows in files.items():
        temporary = out_dir / f".{name}.tmp"
        with open(temporary, "wb") as target:
            for row in sorted(rows, key=lambda r: r["shard"]):
                shard = files_dir / row["shard"]
                if not shard.is_file():
                    temporary.unlink()
                    raise SystemExit(f"error: {shard}: missing shard of {name}")
                data = shard.read_bytes()
                if hashlib.sha256(data).hexdigest() != row["sha256"]:
                    temporary.unlink()
                    raise SystemExit(f"error: {shard}: sha256 mismatch (corrupt or truncated shard of {name})")
                target.write(data)
        os.replace(temporary, out_dir / name)
    return out_dir


# ---------------------------------------------------------------------------------------------------- prepare
def prepare(data: Path, carry_dir: Path, max_mib: float = 64.0) -> None:
    """Download the wheels (Python 3.12, manylinux x86_64) and copy the training pairs into ``carry_dir``.

    A run carries at most ``max_mib`` MiB, this checkout's tracked files included. When all of ``data``
    does not fit, the pairs are carried in their sorted order until it would not (whole pairs only) and
    the number left out is printed and recorded in ``carry_dir/carry.json``: e.g. with a 37.5 MiB checkout,
    3.2 MiB of wheels and the 25 MiB SICE training set, about 2 MiB of it stays behind.
    """
    from kind_tf.data.pairs import find_pairs

    wheels = carry_dir / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", *WHEELS, "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64", "--platform",
                    "manylinux_2_17_x86_64", "-d", str(wheels), "-q"], check=True)
    target = carry_dir / "data" / "train"
    if target.exists():
        shutil.rmtree(target)
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    size = sum((REPO / p).stat().st_size for p in tracked.decode().split("\0") if p and (REPO / p).is_file())
    size += sum(p.stat().st_size for p in carry_dir.rglob("*") if p.is_file())
    budget = max_mib * 2**20 - size - 2**20   # 1 MiB of margin for the run's own small files
    pairs = find_pairs(data)
    carried = 0
    for pair in pairs:
        pair_bytes = pair.low.stat().st_size + pair.high.stat().st_size
        if pair_bytes > budget:
            break
        for path, side in ((pair.low, "low"), (pair.high, "high")):
            (target / side).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / side / path.name)
        budget -= pair_bytes
        carried += 1
        size += pair_bytes
    record = {"pairs": carried, "left_out": len(pairs) - carried, "carry_mib": round(size / 2**20, 2),
              "limit_mib": max_mib, "wheels": sorted(p.name for p in wheels.glob("*.whl"))}
    (carry_dir / "carry.json").write_text(json.dumps(record, indent=1))
    print(f"carry: {size / 2**20:.1f} MiB of {max_mib:g} MiB — tracked files, wheels and {carried} of {len(pairs)} "
          f"training pairs" + (f" ({len(pairs) - carried} left out to fit)" if carried < len(pairs) else ""))


def install_wheels(carry_dir: Path) -> None:
    """pip-install the carried wheels when Keras is not importable (the accelerator image has none)."""
    try:
        import keras  # noqa: F401
        return
    except ImportError:
        pass
    wheels = sorted(str(p) for p in (carry_dir / "wheels").glob("*.whl"))
    if not wheels:
        raise SystemExit(f"error: keras is not installed and {carry_dir / 'wheels'} has no wheels (run prepare here)")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", *wheels], check=True)


# ---------------------------------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    if not args.no_install:
        install_wheels(Path(args.carry_dir))
    from kind_tf.training import TrainConfig, Trainer
    from kind_tf.training.engines import CHECKPOINT_FILE, SCALARS_FILE

    run_dir = Path(args.run_dir)
    stage_dir = run_dir / args.stage
    if args.resume_from:
        reassemble(Path(args.resume_from), stage_dir / "ckpt", group="checkpoint")
    overrides = {key: getattr(args, key) for key in ("steps", "batch_size", "patch_size", "lr") if getattr(args, key)}
    config = TrainConfig(stage=args.stage, data=args.data, run_dir=str(run_dir), preset=args.preset,
                         decom_weights=args.decom_weights, seed=args.seed, mixed_precision=args.bfloat16,
                         save_every=args.save_every, log_every=args.log_every, eval_every=10**12, eval_images=0,
                         time_limit=args.minutes * 60.0, progress=not args.no_progress, **overrides)
    started = time.perf_counter()
    result = Trainer(config).run()
    wall = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, list[dict]] = {"weights": [], "checkpoint": []}
    weights_dir = Path(result.weights_dir)
    for path in sorted(weights_dir.iterdir()):
        manifest["weights"] += split_file(path, out, path.name, args.shard_bytes)
    checkpoint = stage_dir / "ckpt" / CHECKPOINT_FILE
    budget = MAX_RETURNED_FILES - len(manifest["weights"]) - 3   # manifest, summary, scalars
    if checkpoint.is_file() and -(-checkpoint.stat().st_size // args.shard_bytes) <= budget:
        manifest["checkpoint"] = split_file(checkpoint, out, CHECKPOINT_FILE, args.shard_bytes)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    if (stage_dir / SCALARS_FILE).is_file():
        shutil.copy(stage_dir / SCALARS_FILE, out / SCALARS_FILE)
    summary = {"stage": args.stage, "status": result.status, "start_step": result.start_step,
               "final_step": result.final_step, "total_steps": result.total_steps,
               "steps_per_second": result.steps_per_second, "wall_seconds": wall, "losses": result.losses,
               "checkpoint_returned": bool(manifest["checkpoint"]), "bfloat16": args.bfloat16,
               "backend": os.environ.get("KERAS_BACKEND"), "devices": _devices()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return 0


def _devices() -> list[str]:
    try:
        import jax

        return [str(d) for d in jax.devices()]
    except ImportError:
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="collect the wheels and training pairs to carry (here)")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "sice_pairs" / "train"))
    p.add_argument("--carry-dir", default=str(CARRY_DIR))
    r = commands.add_parser("run", help="train one stage for at most --minutes (on the accelerator)")
    r.add_argument("--stage", required=True, choices=["decom", "restore", "adjust"])
    r.add_argument("--data", default=str(CARRY_DIR / "data" / "train"))
    r.add_argument("--run-dir", default="runs/accelerator")
    r.add_argument("--out", required=True, help="folder whose files come back (the device's $OUT)")
    r.add_argument("--preset", default="original")
    r.add_argument("--decom-weights", default=None, help="frozen DecomNet for restore/adjust (a weights folder)")
    r.add_argument("--minutes", type=float, default=8.0, help="stop (and save) after this much training")
    r.add_argument("--resume-from", default=None, help="a previous run's returned files, carried back")
    r.add_argument("--steps", type=int, default=None)
    r.add_argument("--batch-size", type=int, default=None)
    r.add_argument("--patch-size", type=int, default=None)
    r.add_argument("--lr", type=float, default=None)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--bfloat16", action="store_true", help="mixed bfloat16 compute (float32 weights)")
    r.add_argument("--save-every", type=int, default=2000)
    r.add_argument("--log-every", type=int, default=100)
    r.add_argument("--shard-bytes", type=int, default=SHARD_BYTES)
    r.add_argument("--carry-dir", default=str(CARRY_DIR))
    r.add_argument("--no-install", action="store_true", help="do not pip-install the carried wheels")
    r.add_argument("--no-progress", action="store_true")
    a = commands.add_parser("reassemble", help="join returned shards into a weights folder (here)")
    a.add_argument("files", help="the folder the run's files were fetched into")
    a.add_argument("--out", required=True)
    a.add_argument("--group", default="weights", choices=["weights", "checkpoint"])
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(Path(args.data), Path(args.carry_dir))
        return 0
    if args.command == "reassemble":
        print(f"wrote {reassemble(Path(args.files), Path(args.out), args.group)}")
        return 0
    return run(args)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
