"""evaluate.py / kind_tf.evaluation on tiny generated folders: numbers, files, determinism, user errors."""

import csv
import importlib.util
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from kind_tf.evaluation import EvaluationError, gt_mean_ratio, load_method, run_evaluation

SIZE = (96, 192)  # the smallest image with two 96x96 NIQE blocks
STEMS = ("a", "b", "c")


def write_pair(root, stem, seed):
    rng = np.random.default_rng(seed)
    high = rng.integers(60, 250, (*SIZE, 3), dtype=np.uint8)
    low = (high * 0.2 + rng.integers(0, 6, high.shape)).astype(np.uint8)
    Image.fromarray(low).save(root / "low" / f"{stem}.png")
    Image.fromarray(high).save(root / "high" / f"{stem}.png")
    return low, high


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    root = tmp_path_factory.mktemp("paired")
    (root / "low").mkdir()
    (root / "high").mkdir()
    return root, {stem: write_pair(root, stem, i) for i, stem in enumerate(STEMS)}


@pytest.fixture(scope="module")
def evaluated(paired, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    summary = run_evaluation(["identity,gamma"], paired[0], out=out, grid=2, command="python evaluate.py test",
                             progress=False, log=lambda _: None)
    return out, summary


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def load_cli(repo_root):
    spec = importlib.util.spec_from_file_location("evaluate_cli", repo_root / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def direct_psnr(high, enhanced):
    mse = np.mean((high.astype(np.float64) / 255 - enhanced.astype(np.float64)) ** 2)
    return 10 * math.log10(1 / mse)


def test_psnr_matches_a_direct_computation(paired, evaluated):
    out, _ = evaluated
    rows = {(row["name"], row["method"]): row for row in read_csv(out / "per_image.csv")}
    for stem, (low, high) in paired[1].items():
        low_f = low.astype(np.float32) / 255
        expected = {"identity": low_f, "gamma": low_f ** np.float32(1 / 2.2)}
        for method, enhanced in expected.items():
            assert float(rows[f"{stem}.png", method]["psnr"]) == pytest.approx(direct_psnr(high, enhanced), abs=2e-4)
        assert float(rows[f"{stem}.png", "identity"]["loe"]) == 0.0  # LOE is against the input


def test_csv_json_markdown_and_grids(paired, evaluated):
    out, summary = evaluated
    rows = read_csv(out / "per_image.csv")
    assert list(rows[0]) == ["name", "input_brightness", "band", "method", "ratio_protocol", "ratio",
                             "uses_ground_truth", "psnr", "ssim", "loe", "niqe", "brightness", "color_cast",
                             "blockiness", "seconds"]
    assert [(r["name"], r["method"]) for r in rows] == [(f"{s}.png", m) for s in STEMS for m in ("identity", "gamma")]
    assert {r["ratio_protocol"] for r in rows} == {"n/a"} and {r["ratio"] for r in rows} == {""}
    assert all(0 < float(r["ssim"]) <= 1 and float(r["niqe"]) > 0 for r in rows)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == summary
    assert {"command", "date", "versions", "data", "metrics", "methods"} <= set(on_disk)
    assert {"tensorflow", "keras", "numpy"} <= set(on_disk["versions"])
    assert on_disk["data"] == {"path": str(paired[0]), "mode": "paired", "images": 3}
    gamma = on_disk["methods"][1]
    assert gamma["label"] == "gamma" and gamma["ratio_protocol"] == "n/a" and gamma["images"] == 3
    values = [float(r["psnr"]) for r in rows if r["method"] == "gamma"]
    assert gamma["metrics"]["psnr"]["mean"] == pytest.approx(np.mean(values), abs=1e-5)
    assert gamma["metrics"]["psnr"]["std"] == pytest.approx(np.std(values), abs=1e-5)
    markdown = (out / "summary.md").read_text()
    assert "python evaluate.py test" in markdown and "| gamma | n/a | 3 |" in markdown
    grids = sorted((out / "grids").iterdir())
    assert [g.name for g in grids] == ["000_a.png", "001_b.png"]
    assert Image.open(grids[0]).size == (SIZE[1] * 4, SIZE[0])  # input | identity | gamma | ground truth


def test_running_twice_gives_identical_numbers(paired, evaluated, tmp_path):
    out, first = evaluated
    second = run_evaluation(["identity", "gamma"], paired[0], out=tmp_path, grid=2, command="python evaluate.py test",
                            progress=False, log=lambda _: None)

    def numbers(folder):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in read_csv(folder / "per_image.csv")]

    assert numbers(tmp_path) == numbers(out)
    strip = [{k: v for k, v in m.items() if k != "seconds"} for m in second["methods"]]
    assert strip == [{k: v for k, v in m.items() if k != "seconds"} for m in first["methods"]]
    for grid in (out / "grids").iterdir():
        assert (tmp_path / "grids" / grid.name).read_bytes() == grid.read_bytes()


def test_plain_folder_gets_no_reference_metrics(paired, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for stem, (low, _) in paired[1].items():
        Image.fromarray(low).save(folder / f"{stem}.png")
    Image.fromarray(paired[1]["a"][0][:, :90]).save(folder / "small.png")  # too small for NIQE
    summary = run_evaluation(["gamma"], folder, out=tmp_path / "out", grid=1, progress=False, log=lambda _: None)
    rows = read_csv(tmp_path / "out" / "per_image.csv")
    assert list(rows[0]) == ["name", "input_brightness", "band", "method", "ratio_protocol", "ratio",
                             "uses_ground_truth", "loe", "niqe", "brightness", "color_cast", "blockiness", "seconds"]
    assert len(rows) == 4 and summary["data"]["mode"] == "no-reference"
    assert {r["name"]: r["niqe"] for r in rows}["small.png"] == "nan"
    assert summary["methods"][0]["metrics"]["niqe"]["n"] == 3
    assert any("NIQE" in note and "small.png" in note for note in summary["notes"])
    assert Image.open(tmp_path / "out" / "grids" / "000_a.png").size == (SIZE[1] * 2, SIZE[0])  # no ground truth
    with pytest.raises(EvaluationError, match="gt-mean needs ground truth"):
        run_evaluation(["kind"], folder, ratio=["gt-mean"], out=tmp_path / "x", progress=False, log=lambda _: None)


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    from kind_tf.weights import STAGES, build_stage, save_weights

    return save_weights(tmp_path_factory.mktemp("weights"), {stage: build_stage(stage) for stage in STAGES})


def test_kind_ratio_protocols_are_named_and_gt_mean_flagged(paired, random_weights, tmp_path, repo_root):
    cli = load_cli(repo_root)
    argv = ["--method", "kind", "--method", "identity", "--ratio", "3,auto", "--ratio", "gt-mean",
            "--weights", str(random_weights), "--data", str(paired[0]), "--limit", "1", "--grid", "1",
            "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    rows = read_csv(tmp_path / "per_image.csv")
    assert [(r["method"], r["ratio_protocol"], r["uses_ground_truth"]) for r in rows] == [
        ("kind", "fixed", "no"), ("kind", "auto", "no"), ("kind", "gt-mean", "yes"), ("identity", "n/a", "no")]
    assert float(rows[0]["ratio"]) == 3.0
    assert 1.0 <= float(rows[1]["ratio"]) <= 10.0
    low, high = (x.astype(np.float32) / 255 for x in paired[1]["a"])
    assert float(rows[2]["ratio"]) == pytest.approx(gt_mean_ratio(load_method("kind", random_weights), low, high),
                                                    rel=1e-5)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["command"].startswith("python evaluate.py --method kind")
    assert [m["label"] for m in summary["methods"]] == [
        "kind (ratio 3)", "kind (ratio auto)", "kind (ratio gt-mean, uses ground truth)", "identity"]
    assert summary["methods"][2]["uses_ground_truth"] is True
    assert "gt-mean (uses ground truth)" in (tmp_path / "summary.md").read_text()


def test_user_errors_in_process(paired, tmp_path, repo_root, capsys):
    cli = load_cli(repo_root)
    cases = [
        (["--method", "retinex"], "unknown method(s) retinex"),
        (["--method", "gamma", "--ratio", "-1"], "--ratio"),
        (["--method", "kind", "--weights", str(tmp_path / "none")], "no kind weights found"),
        (["--method", "gamma", "--data", str(tmp_path / "missing")], "no such folder"),
    ]
    for args, message in cases:
        if "--data" not in args:
            args = [*args, "--data", str(paired[0])]
        assert cli.main([*args, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err


def test_missing_opencv_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes "import cv2" raise ImportError
    with pytest.raises(EvaluationError, match="--method clahe: .*pip install opencv-python-headless"):
        load_method("clahe")
    assert load_method("gamma").enhance(np.zeros((2, 2, 3), np.float32)).shape == (2, 2, 3)


def test_unpaired_files_are_listed_without_traceback(paired, tmp_path, repo_root):
    root = tmp_path / "data"
    (root / "low").mkdir(parents=True)
    (root / "high").mkdir()
    for stem in ("x", "y"):
        Image.fromarray(paired[1]["a"][0]).save(root / "low" / f"{stem}.png")
    Image.fromarray(paired[1]["a"][1]).save(root / "high" / "x.png")
    Image.fromarray(paired[1]["a"][1]).save(root / "high" / "z.jpg")
    done = subprocess.run([sys.executable, str(repo_root / "evaluate.py"), "--method", "gamma", "--data", str(root),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=repo_root, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "low/y.png" in error[0] and "high/z.jpg" in error[0] and "unpaired" in error[0]
    assert not (tmp_path / "out" / "per_image.csv").exists()


def test_every_metric_is_reported_per_input_brightness_band(tmp_path):
    """Inputs of mean 0.03, 0.07, 0.07 and 0.3 fall in the bands < 0.05, 0.05-0.1 (two) and >= 0.1; each band's
    mean is the mean of its rows, and the ground truth's own blockiness is reported beside them."""
    from kind_tf.evaluation import BANDS
    from kind_tf.metrics import blockiness

    root = tmp_path / "bands"
    (root / "low").mkdir(parents=True)
    (root / "high").mkdir()
    rng = np.random.default_rng(7)
    for stem, level in (("a", 0.03), ("b", 0.07), ("c", 0.07), ("d", 0.3)):
        low = np.clip(np.round(level * 255 + rng.integers(-3, 4, (*SIZE, 3))), 0, 255).astype(np.uint8)
        high = rng.integers(60, 250, (*SIZE, 3), dtype=np.uint8)
        Image.fromarray(low).save(root / "low" / f"{stem}.png")
        Image.fromarray(high).save(root / "high" / f"{stem}.png")
    summary = run_evaluation(["gamma"], root, out=tmp_path / "out", grid=0, progress=False, log=lambda _: None)
    rows = read_csv(tmp_path / "out" / "per_image.csv")
    assert [r["band"] for r in rows] == ["input < 0.05", "input 0.05-0.1", "input 0.05-0.1", "input >= 0.1"]
    assert [name for name, _, _ in BANDS] == ["input < 0.05", "input 0.05-0.1", "input >= 0.1"]
    bands = summary["methods"][0]["bands"]
    assert [bands[name]["images"] for name, _, _ in BANDS] == [1, 2, 1]
    middle = [float(r["psnr"]) for r in rows if r["band"] == "input 0.05-0.1"]
    assert bands["input 0.05-0.1"]["metrics"]["psnr"]["mean"] == pytest.approx(np.mean(middle), abs=1e-5)
    high_d = np.asarray(Image.open(root / "high" / "d.png")).astype(np.float64) / 255
    reference = summary["ground_truth"]
    assert reference["images"] == 4
    assert reference["bands"]["input >= 0.1"]["metrics"]["blockiness"]["mean"] == pytest.approx(blockiness(high_d))
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert "| gamma | n/a | input 0.05-0.1 | 2 |" in markdown
    assert "| ground truth |  | input < 0.05 | 1 |" in markdown
