"""Presets (kind_tf.load("kind-sice"), --weights NAME) and the kind-tf command, in process (fast).

The installed side (a wheel in a fresh virtualenv, kind-tf run from elsewhere) is tests/test_wheel.py (slow).
"""

from __future__ import annotations

import configparser
import importlib.util
import inspect
from pathlib import Path

import pytest
import setuptools

import kind_tf
from kind_tf import cli, presets
from kind_tf.presets import UnknownPresetError


def test_presets_resolve_to_the_shipped_folders_in_a_checkout(repo_root):
    assert presets.checkpoints_dir() == repo_root / "checkpoints"
    assert presets.preset_dir("kind-sice") == repo_root / "checkpoints" / "kind"
    assert presets.preset_dir("zero-dce-sice") == repo_root / "checkpoints" / "zero_dce"
    for name in presets.preset_names():
        assert (presets.preset_dir(name) / "config.json").is_file(), name
        assert (presets.preset_dir(name) / "README.md").is_file(), f"{name}: the model card ships with the weights"
    # Every preset runs a registered method, and is that method's default (its first preset) or a later one;
    # the shipped methods with weights are kind and zerodce (kindpp ships none yet).
    from kind_tf import methods

    assert {p.method for p in presets.PRESETS.values()} <= set(methods.names()) == set(presets.method_names())
    with_presets = [m for m in methods.names() if methods.get(m).presets]
    assert with_presets == ["kind", "zerodce", "kindpp"] and presets.preset_dir("kindpp-sice").name == "kindpp"
    assert all(presets.default_preset(m).name == methods.get(m).presets[0] for m in with_presets)


def test_default_weights_dirs_still_point_at_the_presets():
    from kind_tf.inference import default_weights_dir, default_zero_dce_weights_dir

    assert default_weights_dir() == presets.preset_dir("kind-sice")
    assert default_zero_dce_weights_dir() == presets.preset_dir("zero-dce-sice")


def test_weights_values_folders_win_and_unknown_names_are_one_line(tmp_path, monkeypatch):
    assert presets.resolve_weights("kind-sice") == presets.preset_dir("kind-sice")
    assert presets.resolve_weights(tmp_path) == tmp_path
    missing = tmp_path / "no_weights"   # a path (it has a separator): returned as is, the caller says "no weights"
    assert presets.resolve_weights(str(missing)) == missing
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kind-sice").mkdir()    # a folder the user named like a preset is what they mean
    assert presets.resolve_weights("kind-sice") == Path("kind-sice")
    assert presets.preset_of("kind-sice") is None
    with pytest.raises(UnknownPresetError) as raised:
        presets.resolve_weights("kind-sicee")
    message = str(raised.value)
    assert "\n" not in message and "'kind-sicee'" in message
    assert all(name in message for name in presets.preset_names())


def test_load_a_preset_and_unknown_names():
    from kind_tf.inference import KinD, ZeroDCE

    kind = kind_tf.load("kind-sice")
    assert type(kind) is KinD and kind.restore is not None
    assert kind.describe() == "the recomposition R̂·L̂ (no fusion), auto ratio (mean brightness 0.49)"  # its recipe
    assert isinstance(kind_tf.load("zero-dce-sice"), ZeroDCE)
    assert isinstance(kind_tf.load(presets.preset_dir("zero-dce-sice")), ZeroDCE)   # a folder: from its config
    with pytest.raises(ValueError) as raised:
        kind_tf.load("no-such-preset")
    assert isinstance(raised.value, UnknownPresetError)
    assert len(str(raised.value).splitlines()) == 1 and "kind-sice, zero-dce-sice" in str(raised.value)


def test_import_kind_tf_stays_cheap():
    """``import kind_tf`` and the presets load no backend (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys, kind_tf, kind_tf.presets, kind_tf.cli, kind_tf.cli.enhance, kind_tf.methods, "
            "kind_tf.cli.evaluate; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == f"kind-tf {kind_tf.__version__}"
    with pytest.raises(SystemExit) as exited:
        cli.main(["enhance", "--help"])
    text = capsys.readouterr().out
    assert exited.value.code == 0 and text.startswith("usage: kind-tf enhance")
    assert "methods (--method): kind, zerodce, kindpp" in text and "{kind,zerodce,kindpp}" in text
    assert "--method {kind,zerodce,kindpp}, --model {kind,zerodce,kindpp}" in text   # --model: the old name
    assert all(name in text for name in presets.preset_names())
    assert "kind-tf enhance photos/" in text and "python enhance.py" not in text   # examples as typed
    for argv in ([], ["frob"], ["--weights", "x"]):
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        assert exited.value.code == 2, argv
        assert "kind-tf: error:" in capsys.readouterr().err


def test_every_sub_command_is_its_scripts_function(repo_root):
    """The top-level scripts are thin wrappers over the functions kind-tf runs, which all take ``prog``."""
    for name in cli.COMMANDS:
        assert "prog" in inspect.signature(cli.command_main(name)).parameters, name
    for script in ("enhance", "train", "evaluate"):
        spec = importlib.util.spec_from_file_location(f"{script}_script", repo_root / f"{script}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.main is cli.command_main(script), script


def test_sub_command_user_errors_keep_their_exit_codes(tmp_path, capsys):
    assert cli.main(["enhance", "--weights", "no-such-preset"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [f"error: --weights: {UnknownPresetError('no-such-preset')}"]
    assert cli.main(["enhance", "--model", "kind", "--weights", "zero-dce-sice"]) == 2
    assert "is a zerodce preset" in capsys.readouterr().err
    assert cli.main(["evaluate", "--method", "retinex", "--data", str(tmp_path)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error:") and "unknown method(s) retinex" in errors[0]


def test_setup_cfg_lists_every_package(repo_root):
    """setup.cfg lists its packages (kind_tf._checkpoints cannot be found by find:), so a new sub-package
    must be added there or the wheel would silently lack it."""
    config = configparser.ConfigParser()
    config.read(repo_root / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    found = set(setuptools.find_packages(str(repo_root), include=["kind_tf", "kind_tf.*"]))
    assert listed == found | {"kind_tf._checkpoints"}
    assert config["options"]["package_dir"].split() == ["kind_tf._checkpoints", "=", "checkpoints"]
    assert "kind-tf = kind_tf.cli:console_main" in config["options.entry_points"]["console_scripts"]


def test_only_inference_processes_assume_frozen_weights(monkeypatch):
    """TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1 (oneDNN keeps each filter's reordered copy for the process) is set by the
    console command for inference-only sub-commands, never for train or by main() itself (which may run inside
    a process that trains), and a value the user chose is kept."""
    import os

    from kind_tf._quiet import FROZEN_WEIGHTS_ENV, assume_frozen_weights

    seen = []
    monkeypatch.setattr(cli, "main", lambda argv=None: seen.append(os.environ.get(FROZEN_WEIGHTS_ENV)) or 0)
    # registered first, so monkeypatch restores the variable's state from before the test (unset, normally)
    # and not the "1" console_main sets: a leaked "1" would freeze the filters of later tests' trainings.
    monkeypatch.setenv(FROZEN_WEIGHTS_ENV, "registered")
    for command, expected in (("enhance", "1"), ("evaluate", "1"), ("demo", "1"), ("train", None),
                              ("export", None), ("--version", None)):
        monkeypatch.delenv(FROZEN_WEIGHTS_ENV, raising=False)
        monkeypatch.setattr("sys.argv", ["kind-tf", command])
        assert cli.console_main() == 0
        assert seen.pop() == expected, command
    monkeypatch.setenv(FROZEN_WEIGHTS_ENV, "0")
    assume_frozen_weights()
    assert os.environ[FROZEN_WEIGHTS_ENV] == "0"
    repo = Path(__file__).resolve().parents[1]
    for script in ("enhance.py", "evaluate.py"):
        main_block = (repo / script).read_text().split('if __name__ == "__main__":', 1)[1]
        assert "assume_frozen_weights()" in main_block, script
    assert "assume_frozen_weights" not in (repo / "train.py").read_text()
