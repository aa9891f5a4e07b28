"""A method is one registered thing: the registry, and a whole method defined only in this file.

The "gamma curve" method below (a learned global exponent, out = x ** exp(w)) has its own network, pipeline,
training stage and export, and registers itself (its network in kind_tf.weights.NETWORKS, so its weights
folder is the one format every method uses: the Task's default export writes it, load_stage reads it).
It then trains (the generic Trainer), enhances (``kind-tf enhance``), evaluates (``kind-tf evaluate``) and
exports (``kind-tf export``) through the normal entry points, none of which names it: if an entry point still
branched on method names, this test would fail. Also: :func:`kind_tf.methods.detect` recognises a converted
KinD++ folder, and ``kind-tf enhance --weights THAT_FOLDER`` runs KinD++ without ``--method``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops
from PIL import Image

from kind_tf import cli, methods
from kind_tf.baselines import BASELINES
from kind_tf.methods import Exporter, Method
from kind_tf.registry import Registry, UnknownNameError
from kind_tf.training.config import StageRecipe, TrainConfig
from kind_tf.training.tasks import TASKS, RestoreTask, Task, make_task

GAMMA = "gamma_curve"          # the test method's name, and its training stage's
SIZE = (32, 40)


# --- the generic registry -------------------------------------------------------------------------------
def test_registry_registers_gets_and_lists_with_one_clear_error():
    things: Registry[int] = Registry("thing")
    things.register("one", 1)

    @things.register("two")
    def two():
        return 2

    assert things.names() == ("one", "two") and things.get("two") is two and things["one"] == 1
    assert "one" in things and sorted(things) == ["one", "two"] and len(things) == 2
    with pytest.raises(UnknownNameError) as raised:
        things.get("three")
    message = str(raised.value)
    assert message == "unknown thing 'three'; expected one of one, two"
    assert isinstance(raised.value, KeyError) and isinstance(raised.value, ValueError)
    with pytest.raises(ValueError, match="already registered"):
        things.register("one", 11)
    things.register("one", 11, overwrite=True)
    assert things.get("one") == 11


def test_the_library_registries_are_registries():
    """Stages, backbones, baselines and methods: one Registry each, the old names still read like dicts."""
    for registry in (TASKS, RestoreTask.BACKBONES, BASELINES, methods.METHODS):
        assert isinstance(registry, Registry)
    assert TASKS.names()[:7] == ("decom", "restore", "adjust", "zerodce", "kindpp_decom", "kindpp_illu",
                                 "kindpp_restore")
    assert RestoreTask.BACKBONES["improved_unet"] == "ImprovedUNet"
    assert methods.names() == ("kind", "zerodce", "kindpp")
    assert set(methods.importers()) == {"kind-tf1", "zero-dce-pth", "kindpp-tf1"}
    assert set(methods.exports()) == {"kind", "stage", "zerodce", "kindpp"}
    kind = methods.get("kind")
    assert kind.stages == ("decom", "restore", "adjust") and kind.presets == ("kind-sice",) and kind.accepts_ratio
    assert methods.get("zerodce").stages == ("zerodce",) and not methods.get("zerodce").accepts_ratio
    assert all(stage in TASKS for name in methods.names() for stage in methods.get(name).stages)
    with pytest.raises(ValueError, match="unknown method 'retinex'; expected one of kind, zerodce, kindpp"):
        methods.get("retinex")
    from kind_tf.training.config import ConfigError

    with pytest.raises(ConfigError, match="unknown stage 'nope'; expected one of decom, restore"):
        make_task("nope")


def test_detect_reads_the_method_from_the_folder_and_older_folders_read_as_version_2(tmp_path):
    from kind_tf.presets import preset_dir
    from kind_tf.weights_config import VERSION, read_config

    assert methods.detect(preset_dir("kind-sice")).name == "kind"
    assert methods.detect(preset_dir("zero-dce-sice")).name == "zerodce"
    shipped = read_config(preset_dir("kind-sice"))
    assert shipped["version"] == VERSION and set(shipped["stages"]) == {"decom", "restore", "adjust"}
    assert all("command" in shipped["provenance"][stage] for stage in shipped["stages"])
    folder = tmp_path / "v1"
    folder.mkdir()
    # Version-1 folders: what kind_tf.convert.kindpp_tf1 wrote (metadata naming the pipeline), a folder holding
    # KinD++'s MSIA restoration, a KinD folder and a Zero-DCE++ folder.
    for config, method in (({"format": "kind_tf.kind", "stages": {},
                             "metadata": {"pipeline": "kind_tf.kindpp.KinDPlusPlus", "source": {"a": 1}}}, "kindpp"),
                           ({"format": "kind_tf.kind", "stages": {"restore": {"class": "MSIANet", "config": {}}}},
                            "kindpp"),
                           ({"format": "kind_tf.kind", "stages": {"decom": {"class": "DecomNet", "config": {}}},
                             "recipe": {"output": "recompose"}}, "kind"),
                           ({"model": "zero_dce", "class": "ZeroDCEPlusPlus", "scale_factor": 12, "iterations": 8,
                             "filters": 32, "weights": "model.weights.h5"}, "zerodce")):
        (folder / "config.json").write_text(json.dumps(config))
        assert methods.detect(folder).name == method
        upgraded = read_config(folder)
        assert upgraded["format"] == "kind_tf.weights" and upgraded["version"] == VERSION
        assert all("file" in entry for entry in upgraded["stages"].values())
    assert upgraded["stages"]["zerodce"]["file"] == "model.weights.h5" and upgraded["recipe"] == {"scale_factor": 12}
    (folder / "config.json").write_text(json.dumps({"format": "kind_tf.weights", "version": VERSION + 1,
                                                    "method": "kind", "stages": {}}))
    with pytest.raises(ValueError, match=f"format version {VERSION + 1} is newer than this kind-tf reads"):
        methods.detect(folder)
    (folder / "config.json").write_text(json.dumps({"format": "kind_tf.weights", "version": VERSION,
                                                    "method": "retinex", "stages": {}}))
    with pytest.raises(ValueError, match="weights are for method 'retinex', which is not registered"):
        methods.detect(folder)
    with pytest.raises(ValueError, match="no config.json"):
        methods.detect(tmp_path)


# --- a method defined only here -------------------------------------------------------------------------
class GammaCurveNet(keras.Model):
    """One trainable number w: out = x ** exp(w) (w = 0: identity; w < 0 brightens)."""

    def build(self, input_shape=None):
        self.log_gamma = self.add_weight(shape=(), initializer="zeros", name="log_gamma")
        self.built = True

    def call(self, images):
        return ops.power(ops.maximum(images, 1e-4), ops.exp(self.log_gamma))


def build_net() -> GammaCurveNet:
    net = GammaCurveNet()
    net.build((None, None, None, 3))
    return net


class GammaCurve:
    """The pipeline: what every entry point calls."""

    def __init__(self, net: GammaCurveNet):
        self.net = net

    @classmethod
    def from_weights(cls, folder: Path) -> GammaCurve:
        from kind_tf.weights import load_stage

        return cls(load_stage(folder, GAMMA))

    @property
    def gamma(self) -> float:
        return float(np.exp(keras.ops.convert_to_numpy(self.net.log_gamma)))

    def enhance(self, image, ratio=None, return_intermediates=False, **_):
        images = np.asarray(image, np.float32)
        if image.dtype == np.uint8:
            images = images / 255.0
        enhanced = np.clip(np.power(np.maximum(images, 1e-4), self.gamma), 0.0, 1.0).astype(np.float32)
        return {"enhanced": enhanced} if return_intermediates else enhanced


class GammaCurveTask(Task):
    """Its training stage: pairs → the exponent that maps low to high (per-example MSE)."""

    name = GAMMA
    method = GAMMA
    weights_folder = "weights_gamma"
    recipes = {"original": StageRecipe(batch_size=2, patch_size=16, steps=3, lr=0.05),
               "cpu": StageRecipe(batch_size=2, patch_size=16, steps=3, lr=0.05)}

    def build_model(self):
        return build_net()

    def prepare(self, context):
        from kind_tf.data.sampling import ImagePairSource

        _, lows, highs = self.load_training_pairs(context)
        self.source = ImagePairSource(lows, highs)
        return len(self.source)

    def transform(self, patch, draws):
        return {"low": patch[..., 0:3], "high": patch[..., 3:6]}

    def compute_losses(self, model, batch, training=True):
        error = ops.mean(ops.square(model(batch["low"]) - batch["high"]), axis=(1, 2, 3))
        return {"mse": error, "total": error}


def export_gamma(args: argparse.Namespace, weights_dir: Path) -> Path:
    """Its export: a JSON artefact with the learned exponent (no TensorFlow needed)."""
    out = Path(args.out)
    out.write_text(json.dumps({"gamma": GammaCurve.from_weights(weights_dir).gamma}))
    return out


GAMMA_METHOD = Method(
    name=GAMMA, label="gamma curve", description="a learned global gamma (test method)",
    loader=lambda folder, **_: GammaCurve.from_weights(folder),
    stages=(GAMMA,),
    exports={GAMMA: Exporter("the exponent as JSON", lambda parser: parser.add_argument("--out", required=True),
                             export_gamma, needs_tensorflow=None)},
)


@pytest.fixture
def gamma_registered():
    from kind_tf.weights import DEFAULT_CLASSES, NETWORKS, Network

    NETWORKS.register("GammaCurveNet", Network(GammaCurveNet))
    DEFAULT_CLASSES[GAMMA] = "GammaCurveNet"
    TASKS.register(GAMMA, GammaCurveTask)
    methods.register(GAMMA_METHOD)
    yield
    methods.METHODS.unregister(GAMMA)
    TASKS.unregister(GAMMA)
    del DEFAULT_CLASSES[GAMMA]
    NETWORKS.unregister("GammaCurveNet")


def write_pairs(root: Path, count: int = 2) -> Path:
    rng = np.random.default_rng(0)
    (root / "low").mkdir(parents=True)
    (root / "high").mkdir()
    for index in range(count):
        high = rng.integers(40, 250, (*SIZE, 3), dtype=np.uint8)
        low = (255 * (high / 255.0) ** 2.0).astype(np.uint8)    # darker: the target is low ** 0.5
        Image.fromarray(low).save(root / "low" / f"{index}.png")
        Image.fromarray(high).save(root / "high" / f"{index}.png")
    return root


def test_a_method_defined_outside_the_library_runs_through_every_entry_point(gamma_registered, tmp_path, capsys):
    from kind_tf.training.trainer import Trainer

    data = write_pairs(tmp_path / "pairs")
    # train: the generic trainer, a few tiny steps, its own export
    result = Trainer(TrainConfig(stage=GAMMA, data=str(data), run_dir=str(tmp_path / "run"), preset="cpu",
                                 eval_images=0, progress=False, save_every=3, log_every=1)).run()
    weights = tmp_path / "run" / "weights_gamma"
    assert result.status == "completed" and result.final_step == 3 and (weights / "config.json").is_file()
    from kind_tf.weights import read_config

    recorded = read_config(weights)   # the one weights format: method, stage, provenance
    assert recorded["method"] == GAMMA and recorded["stages"][GAMMA]["class"] == "GammaCurveNet"
    assert recorded["provenance"][GAMMA]["step"] == 3 and recorded["provenance"][GAMMA]["preset"] == "cpu"
    trained = GammaCurve.from_weights(weights)
    assert trained.gamma < 1.0            # it learned to brighten
    assert methods.detect(weights) is GAMMA_METHOD

    # enhance: --weights alone picks the method from the folder's config.json
    assert cli.main(["enhance", str(data / "low" / "0.png"), "-o", str(tmp_path / "out"), "--weights",
                     str(weights)]) == 0
    written = np.asarray(Image.open(tmp_path / "out" / "0.png")).astype(int)
    low = np.asarray(Image.open(data / "low" / "0.png"))
    assert np.abs(written - np.round(trained.enhance(low) * 255).astype(int)).max() <= 1
    assert cli.main(["enhance", "--method", GAMMA, str(data / "low" / "1.png"), "-o", str(tmp_path / "out2"),
                     "--weights", str(weights)]) == 0
    assert (tmp_path / "out2" / "1.png").is_file()
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["enhance", "--help"])
    assert GAMMA in capsys.readouterr().out

    # evaluate: a registered method is a --method choice, --weights goes to it
    assert cli.main(["evaluate", "--method", f"{GAMMA},identity", "--weights", str(weights), "--data", str(data),
                     "--grid", "0", "--out", str(tmp_path / "eval")]) == 0
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    scores = {entry["method"]: entry["metrics"]["psnr"]["mean"] for entry in summary["methods"]}
    assert scores[GAMMA] > scores["identity"]

    # export: its sub-command comes from the registry and runs its exporter
    assert cli.main(["export", GAMMA, "--weights", str(weights), "--out", str(tmp_path / "gamma.json")]) == 0
    assert json.loads((tmp_path / "gamma.json").read_text())["gamma"] == pytest.approx(trained.gamma)


# --- KinD++ by its folder -------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_converted_kindpp_folder_is_detected_and_enhance_runs_kindpp(shared_dir, tmp_path, capsys):
    reference = shared_dir / "reference" / "kindpp_official"
    if not reference.is_dir():
        pytest.skip(f"KinD++ reference material not found at {reference}")
    from kind_tf.convert.kindpp_tf1 import convert_kindpp_tf1
    from kind_tf.kindpp import KinDPlusPlus

    folder = convert_kindpp_tf1(tmp_path / "kindpp", decom=reference / "decom", illu=reference / "illu",
                                restore=reference / "restoration_random")
    assert methods.detect(folder).name == "kindpp"
    rng = np.random.default_rng(1)
    low = rng.integers(0, 60, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(low).save(tmp_path / "dark.png")
    capsys.readouterr()
    assert cli.main(["enhance", str(tmp_path / "dark.png"), "-o", str(tmp_path / "out"), "--weights",
                     str(folder)]) == 0
    assert capsys.readouterr().err.startswith(f"KinD++ ({folder}): ")   # the recipe line of KinD++
    written = np.asarray(Image.open(tmp_path / "out" / "dark.png")).astype(int)
    expected = np.round(KinDPlusPlus.from_weights(folder).enhance(low) * 255).astype(int)
    assert np.abs(written - expected).max() <= 1
