"""enhance.py as users run it: a subprocess, real files, clear one-line errors, non-zero exit codes."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from kind_tf.weights import STAGES, build_stage, save_weights

# Every test here starts enhance.py in a fresh process (TensorFlow import, networks built and traced: 10-30 s
# each on 2 CPU cores), so the whole file is left out of the fast loop (pytest -m "not slow"); CI runs it.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """A complete kind-tf weights folder with freshly initialised networks (tests the plumbing, not quality)."""
    out = tmp_path_factory.mktemp("weights")
    return save_weights(out, {stage: build_stage(stage) for stage in STAGES})


def run_enhance(repo_root, *args):
    return subprocess.run([sys.executable, str(repo_root / "enhance.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=repo_root, timeout=300)


def dark_image(path, size=(24, 40), seed=0):
    pixels = np.random.default_rng(seed).integers(0, 60, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def test_enhances_good_files_and_reports_bad_ones(repo_root, random_weights, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    dark_image(inputs / "good.png")
    dark_image(inputs / "odd.jpg", size=(17, 33))
    (inputs / "zero.png").write_bytes(b"")
    (inputs / "notes.png").write_text("hello")
    out = tmp_path / "out"
    done = run_enhance(repo_root, inputs, tmp_path / "missing.png", "-o", out, "--weights", random_weights,
                       "--save-intermediates", "--tile", "16")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert any("zero.png" in e and "empty" in e for e in errors)
    assert any("notes.png" in e and "not an image" in e for e in errors)
    assert any("missing.png" in e for e in errors)
    assert Image.open(out / "good.png").size == (40, 24)
    assert Image.open(out / "odd.png").size == (33, 17)
    assert Image.open(out / "good_grid.png").size == (40 * 6, 24)
    assert (out / "good_illumination.png").exists()


def test_never_overwrites_an_input_without_permission(repo_root, random_weights, tmp_path):
    original = dark_image(tmp_path / "photo.png")
    done = run_enhance(repo_root, tmp_path / "photo.png", "-o", tmp_path, "--weights", random_weights)
    assert done.returncode == 1 and "--overwrite" in done.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "photo.png")), original)


def test_usage_errors_exit_non_zero_without_traceback(repo_root, random_weights, tmp_path):
    dark_image(tmp_path / "a.png")
    blocker = tmp_path / "file_not_folder"
    blocker.write_text("x")
    cases = [
        (["--weights", tmp_path / "no_weights"], "no weights found"),
        ([tmp_path / "a.png", "--weights", random_weights, "--ratio", "bright"], "--ratio"),
        ([tmp_path / "a.png", "--weights", random_weights, "-o", blocker / "sub"], "file_not_folder"),
        ([tmp_path / "empty_dir_missing", "--weights", random_weights, "-o", tmp_path / "o"], "no such file"),
    ]
    for args, expected in cases:
        done = run_enhance(repo_root, *args)
        assert done.returncode != 0, args
        assert "Traceback" not in done.stderr and expected in done.stderr, (args, done.stderr)


def test_no_fusion_flag_writes_the_recomposition(repo_root, random_weights, tmp_path):
    """--no-fusion reaches the pipeline: the PNG is KinD(fusion=False)'s output in 8 bits, not the fused one."""
    from kind_tf.inference import KinD

    pixels = dark_image(tmp_path / "photo.png", seed=3)
    done = run_enhance(repo_root, tmp_path / "photo.png", "-o", tmp_path / "out", "--weights", random_weights,
                       "--no-fusion")
    assert done.returncode == 0, done.stderr
    written = np.asarray(Image.open(tmp_path / "out" / "photo.png")).astype(int)
    plain = np.round(KinD.from_weights(random_weights, fusion=False).enhance(pixels) * 255).astype(int)
    fused = np.round(KinD.from_weights(random_weights).enhance(pixels) * 255).astype(int)
    assert np.abs(written - plain).max() <= 1
    assert np.abs(written - fused).max() > 1


def test_only_kind_tfs_own_lines_reach_the_terminal(repo_root, random_weights, tmp_path):
    """No TensorFlow C++ start-up lines (cudart_stub, absl::InitializeLog, cuInit) unless --verbose."""
    dark_image(tmp_path / "photo.png")
    done = run_enhance(repo_root, tmp_path / "photo.png", "-o", tmp_path / "out", "--weights", random_weights)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("KinD (") and lines[-1].startswith("wrote 1 file(s)"), lines
    assert len(lines) == 2, lines
    for noise in ("cudart_stub", "absl::InitializeLog", "cuInit", "cpu_feature_guard"):
        assert noise not in done.stderr


@pytest.mark.parametrize("defect", ["wrong_stage", "truncated"])
def test_a_bad_weights_file_is_one_line_naming_it(repo_root, random_weights, tmp_path, defect):
    """A weights file of another stage, or a truncated one: one 'error:' line naming the file, no warnings."""
    import shutil

    folder = tmp_path / "weights"
    shutil.copytree(random_weights, folder)
    if defect == "wrong_stage":
        shutil.copy(folder / "decom.weights.h5", folder / "adjust.weights.h5")
        bad = folder / "adjust.weights.h5"
    else:
        bad = folder / "restore.weights.h5"
        bad.write_bytes(bad.read_bytes()[:4000])
    dark_image(tmp_path / "photo.png")
    done = run_enhance(repo_root, tmp_path / "photo.png", "-o", tmp_path / "out", "--weights", folder)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and str(bad) in lines[0]
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr


def test_inputs_sharing_a_stem_are_all_written_by_the_naming_rule(repo_root, random_weights, tmp_path):
    """a.png and a.jpg (and another folder's a.jpg) in one run: a_png.png, a_jpg.png, a_jpg_2.png; b alone: b.png."""
    from pathlib import Path

    from kind_tf.enhance_job import output_names

    (tmp_path / "more").mkdir()
    dark_image(tmp_path / "a.png", seed=1)
    dark_image(tmp_path / "a.jpg", seed=2)
    dark_image(tmp_path / "more" / "a.jpg", seed=3)
    dark_image(tmp_path / "b.png", seed=4)
    inputs = [tmp_path / "a.png", tmp_path / "a.jpg", tmp_path / "more" / "a.jpg", tmp_path / "b.png"]
    assert [p.name for p in output_names(inputs, Path("out"))] == ["a_png.png", "a_jpg.png", "a_jpg_2.png", "b.png"]
    done = run_enhance(repo_root, *inputs, "-o", tmp_path / "out", "--weights", random_weights, "--save-intermediates")
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert {"a_png.png", "a_jpg.png", "a_jpg_2.png", "b.png", "a_jpg_grid.png", "b_grid.png"} <= set(names)
    first, second = (np.asarray(Image.open(tmp_path / "out" / n)) for n in ("a_png.png", "a_jpg.png"))
    assert not np.array_equal(first, second)   # two different inputs, two different outputs


def test_skip_existing_resumes_a_folder_run(repo_root, random_weights, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(3):
        dark_image(inputs / f"p{i}.png", seed=i)
    out = tmp_path / "out"
    out.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(out / "p1.png")   # "finished before the interruption"
    done = run_enhance(repo_root, inputs, "-o", out, "--weights", random_weights, "--skip-existing")
    assert done.returncode == 0, done.stderr
    assert "skipped 1 already enhanced" in done.stderr and "wrote 2 file(s)" in done.stderr
    assert Image.open(out / "p1.png").size == (4, 4)          # left alone
    assert Image.open(out / "p0.png").size == (40, 24) and Image.open(out / "p2.png").size == (40, 24)
