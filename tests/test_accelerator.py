"""tools/accelerator.py — the accelerator run (JAX, no TensorFlow), proven end to end on CPU JAX.

- ``run`` trains a stage on a tiny subset, returns sharded weights + checkpoint + log + summary within the
  device's limits (≤ 8 files, each ≤ the shard size), and a second run on a fresh machine resumes from the
  returned checkpoint;
- ``reassemble`` joins the shards into a weights folder that TensorFlow loads, refusing a corrupt shard.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_jax_training import data  # noqa: F401  (the fixture: tiny pairs + initial weights)

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "accelerator.py"


def _load_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("accelerator_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shards_reassemble_exactly_and_a_corrupt_shard_is_refused(tmp_path):
    tool = _load_tool()
    payload = np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    (tmp_path / "big.bin").write_bytes(payload)
    out = tmp_path / "out"
    out.mkdir()
    rows = tool.split_file(tmp_path / "big.bin", out, "big.bin", shard_bytes=30_000)
    assert [r["bytes"] for r in rows] == [30_000, 30_000, 30_000, 10_000]
    (out / tool.MANIFEST).write_text(json.dumps({"weights": rows, "checkpoint": []}))
    tool.reassemble(out, tmp_path / "joined")
    assert (tmp_path / "joined" / "big.bin").read_bytes() == payload
    shard = out / rows[1]["shard"]
    shard.write_bytes(shard.read_bytes()[:-1])
    with pytest.raises(SystemExit, match="sha256 mismatch"):
        tool.reassemble(out, tmp_path / "again")
    assert not (tmp_path / "again" / "big.bin").exists()


@pytest.mark.slow
def test_accelerator_run_on_cpu_jax_returns_weights_and_resumes(data, tmp_path):  # noqa: F811
    train, initial = data
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}

    def run(out: Path, steps: int, *extra: str) -> dict:
        command = [sys.executable, str(TOOL), "run", "--stage", "adjust", "--data", str(train), "--decom-weights",
                   str(initial), "--steps", str(steps), "--batch-size", "2", "--patch-size", "16", "--seed", "5",
                   "--save-every", "1", "--log-every", "1", "--minutes", "5", "--no-install", "--no-progress",
                   "--run-dir", str(tmp_path / f"run_{out.name}"), "--out", str(out), *extra]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads((out / "summary.json").read_text())

    first = run(tmp_path / "first", 3)
    assert first["status"] == "completed" and (first["start_step"], first["final_step"]) == (0, 3)
    assert first["backend"] == "jax" and first["checkpoint_returned"]
    files = sorted((tmp_path / "first").iterdir())
    assert len(files) <= 8 and all(f.stat().st_size <= 16 * 2**20 for f in files)
    # A second machine (fresh run folder) resumes from the returned checkpoint.
    second = run(tmp_path / "second", 5, "--resume-from", str(tmp_path / "first"))
    assert (second["start_step"], second["final_step"]) == (3, 5)

    # Here, with TensorFlow: the reassembled weights load and equal what the run exported.
    result = subprocess.run([sys.executable, str(TOOL), "reassemble", str(tmp_path / "second"), "--out",
                             str(tmp_path / "weights")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    from kind_tf.weights import load_stage

    ours = load_stage(tmp_path / "weights", "adjust").get_weights()
    exported = load_stage(tmp_path / "run_second" / "weights", "adjust").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(ours, exported))
    rows = (tmp_path / "second" / "scalars.csv").read_text().splitlines()
    assert rows[0] == "step,name,value" and any(row.startswith("5,loss/total,") for row in rows)
