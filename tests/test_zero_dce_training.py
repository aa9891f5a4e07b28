"""train.py --stage zerodce: Zero-DCE++ through the generic trainer on tiny generated images.

The loss of a trainer step is the original objective on the same batch; the optimiser is torch's
Adam(weight_decay) after clip_grad_norm_ (hand-computed); the run exports weights that load_zero_dce
and enhance.py load; a resumed run equals an uninterrupted one; unreadable images are one error.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kind_tf.data.pairs import DataError
from kind_tf.data.sampling import Sampling
from kind_tf.data.unpaired import find_images, load_training_images, to_float, unpaired_dataset
from kind_tf.losses.zero_reference import zero_dce_loss_terms, zero_dce_total_loss
from kind_tf.training import ConfigError, TrainConfig, Trainer
from kind_tf.training.config import PRESETS
from kind_tf.training.optimizers import TorchAdam

REPO = Path(__file__).resolve().parents[1]
SIZE = 32
TINY = dict(stage="zerodce", batch_size=4, patch_size=SIZE, save_every=1000, log_every=1, eval_every=1000,
            eval_images=0, progress=False)
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-8


def script(name: str):
    """The repository's ``<name>.py`` command-line script as a module (its main(argv) runs in-process)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_{name}_script", REPO / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_images(root: Path, count: int = 16, seed: int = 0) -> Path:
    """Dark, coloured, smooth-ish images; a few not square / not SIZE (they are resized)."""
    rng = np.random.default_rng(seed)
    (root / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        height, width = (SIZE, SIZE) if i % 5 else (24, 40)
        base = rng.random((height // 4, width // 4, 3)) * rng.uniform(0.1, 0.4, size=3)
        image = np.kron(base, np.ones((4, 4, 1)))
        folder = root / "sub" if i % 4 == 0 else root          # sub-folders are searched too
        Image.fromarray((image * 255).astype(np.uint8)).save(folder / f"img{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory) -> Path:
    return write_images(tmp_path_factory.mktemp("unpaired"))


def torch_reference_step(params, grads, state, step, lr, weight_decay, max_norm):
    """numpy: torch.nn.utils.clip_grad_norm_(max_norm) then torch 1.0 Adam(weight_decay) step ``step`` (1-based)."""
    total = np.sqrt(sum(float(np.sum(np.square(g.astype(np.float64)))) for g in grads))
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1:
        grads = [g * coefficient for g in grads]
    updated = []
    for i, (p, g) in enumerate(zip(params, grads)):
        g = g + weight_decay * p
        m, v = state.get(i, (np.zeros_like(p), np.zeros_like(p)))
        m = BETA_1 * m + (1 - BETA_1) * g
        v = BETA_2 * v + (1 - BETA_2) * g * g
        state[i] = (m, v)
        step_size = lr * np.sqrt(1 - BETA_2 ** step) / (1 - BETA_1 ** step)
        updated.append(p - step_size * m / (np.sqrt(v) + EPSILON))
    return updated, total


def test_torch_adam_matches_hand_computed_update():
    """Clipping active, then inactive, with L2 large enough to matter: three steps as torch would."""
    params = [np.array([[100.0, -50.0], [3.0, 0.5]]), np.array([2.0, -1.0, 0.25])]
    grad_steps = [
        [np.array([[4.0, -2.0], [0.5, 1.0]]), np.array([-3.0, 0.1, 2.0])],        # norm ≫ 0.5: clipped
        [np.array([[0.01, 0.02], [-0.03, 0.0]]), np.array([0.05, -0.01, 0.0])],    # norm < 0.5: not clipped
        [np.array([[-1.0, 0.5], [2.0, -0.2]]), np.array([0.3, 0.3, -4.0])],
    ]
    lr, weight_decay, max_norm = 0.05, 0.01, 0.5
    variables = [tf.Variable(p.astype(np.float32)) for p in params]
    optimizer = TorchAdam(learning_rate=lr, l2_weight_decay=weight_decay, clip_global_norm=max_norm)
    state, expected = {}, [p.astype(np.float64) for p in params]
    for step, grads in enumerate(grad_steps, start=1):
        optimizer.apply_gradients(zip([tf.constant(g, tf.float32) for g in grads], variables))
        expected, _ = torch_reference_step(expected, grads, state, step, lr, weight_decay, max_norm)
        for variable, value in zip(variables, expected):
            np.testing.assert_allclose(variable.numpy(), value, rtol=1e-6, atol=1e-6)
    # The distinction matters: Keras' decoupled weight decay + global_clipnorm lands elsewhere.
    keras_vars = [tf.Variable(p.astype(np.float32)) for p in params]
    keras_adam = keras.optimizers.Adam(learning_rate=lr, weight_decay=weight_decay, global_clipnorm=max_norm,
                                       epsilon=EPSILON)
    for grads in grad_steps:
        keras_adam.apply_gradients(zip([tf.constant(g, tf.float32) for g in grads], keras_vars))
    assert max(np.abs(v.numpy() - e).max() for v, e in zip(keras_vars, expected)) > 1e-3
    # Config round trip (checkpoints / serialisation).
    clone = TorchAdam.from_config(optimizer.get_config())
    assert (clone.l2_weight_decay, clone.clip_global_norm) == (weight_decay, max_norm)


def test_train_steps_equal_the_original_loss_and_torch_update(images_dir, tmp_path):
    """Two trainer steps: each step's loss is zero_dce_total_loss on that batch with the current weights,
    and the weights after them are the hand-computed clip + L2 + Adam updates of the tape's gradients."""
    seed, steps = 3, 2
    config = TrainConfig(data=str(images_dir), run_dir=str(tmp_path / "run"), steps=steps, seed=seed, **TINY)
    trainer = Trainer(config)
    result = trainer.run()
    assert result.final_step == steps

    recipe = PRESETS["original"]["zerodce"]
    task = trainer.task                                       # holds the loaded, resized images
    sampling = Sampling(seed=seed, global_batch=4, patch_size=SIZE, steps_per_epoch=len(task.images) // 4)
    batches = [b["images"] for b in task.build_inputs(sampling, start_step=0, total_steps=steps, replica_batch=4)]
    keras.utils.set_random_seed(seed)
    model = task.build_model()                                # the same initial weights (seeded torch init)
    params = [v.numpy().astype(np.float64) for v in model.trainable_variables]
    state, norms = {}, []
    for step, images in enumerate(batches, start=1):
        for variable, value in zip(model.trainable_variables, params):
            variable.assign(value.astype(np.float32))
        with tf.GradientTape() as tape:
            enhanced, curve = model(images, return_curve=True)
            loss = zero_dce_total_loss(images, enhanced, curve)
        grads = [g.numpy().astype(np.float64) for g in tape.gradient(loss, model.trainable_variables)]
        params, norm = torch_reference_step(params, grads, state, step, recipe.lr, recipe.weight_decay,
                                            recipe.grad_clip_norm)
        norms.append(norm)
    # The last step's loss terms (the trainer reports the last step).
    terms = zero_dce_loss_terms(images, enhanced, curve)
    for name, value in terms.items():
        assert result.losses[name] == pytest.approx(float(value), rel=1e-5, abs=1e-7), name
    assert max(norms) > recipe.grad_clip_norm                 # clipping was exercised
    from kind_tf.convert.zero_dce_pth import load_zero_dce
    trained = load_zero_dce(tmp_path / "run" / "weights_zero_dce", scale_factor=1)
    # Measured: ≤ 6e-8 from float32 round-off; without the L2 term or the clipping the weights land ~4e-4 away.
    for variable, value in zip(trained.trainable_variables, params):
        np.testing.assert_allclose(variable.numpy(), value, rtol=0, atol=1e-6)


def test_scale_factor_trains_dce_net_on_the_downsampled_image(images_dir, tmp_path):
    """--scale-factor 4: DCE-Net sees the image downsampled 4×, the loss stays the full-resolution
    objective, and the export records it while loading at the inference scale factor 12."""
    import json

    from kind_tf.convert.zero_dce_pth import load_zero_dce
    from kind_tf.models.zero_dce import ZeroDCEPlusPlus

    seed = 4
    config = TrainConfig(data=str(images_dir), run_dir=str(tmp_path / "run"), steps=1, seed=seed,
                         scale_factor=4, **TINY)
    assert config.recipe().scale_factor == 4 and PRESETS["original"]["zerodce"].scale_factor == 1
    trainer = Trainer(config)
    result = trainer.run()
    task = trainer.task
    sampling = Sampling(seed=seed, global_batch=4, patch_size=SIZE, steps_per_epoch=len(task.images) // 4)
    images = next(iter(task.build_inputs(sampling, start_step=0, total_steps=1, replica_batch=4)))["images"]
    keras.utils.set_random_seed(seed)
    model = task.build_model()
    assert model.scale_factor == 4
    enhanced, curve = model(images, return_curve=True)
    assert curve.shape == images.shape                      # A upsampled back to full resolution
    assert result.losses["total"] == pytest.approx(float(zero_dce_total_loss(images, enhanced, curve)), rel=1e-5)
    # The same weights at scale factor 1 give another loss: the factor was really used.
    full = ZeroDCEPlusPlus(scale_factor=1)
    full.build((None, None, None, 3))
    full.set_weights(model.get_weights())
    other = zero_dce_total_loss(images, *full(images, return_curve=True))
    assert abs(float(other) - result.losses["total"]) > 1e-4
    exported = json.loads((tmp_path / "run" / "weights_zero_dce" / "config.json").read_text())
    # Inference at 12 (the recipe); the network as trained (its config) at 4.
    assert exported["recipe"]["scale_factor"] == 12 and exported["stages"]["zerodce"]["config"]["scale_factor"] == 4
    assert load_zero_dce(tmp_path / "run" / "weights_zero_dce").scale_factor == 12
    with pytest.raises(ConfigError, match="scale-factor"):
        TrainConfig(data=str(images_dir), scale_factor=0, **TINY).recipe()


def test_end_to_end_export_tensorboard_and_resume(images_dir, tmp_path):
    from kind_tf.convert.zero_dce_pth import load_zero_dce
    from kind_tf.inference import ZeroDCE

    run = tmp_path / "run"
    common = dict(TINY, data=str(images_dir), seed=5, eval_images=2, eval_size=24)
    first = Trainer(TrainConfig(run_dir=str(run), steps=3, **common)).run()
    assert (first.start_step, first.final_step, first.status) == (0, 3, "completed")
    assert set(first.losses) == {"illumination_smoothness", "spatial_consistency", "color_constancy",
                                 "exposure_control", "total"}
    assert np.isfinite(first.losses["total"])
    assert "loss/total" in first.eval_metrics and "brightness/enhanced" in first.eval_metrics
    assert (run / "zerodce" / "ckpt" / "checkpoint").is_file()
    assert first.weights_dir == str(run / "weights_zero_dce")
    # TensorBoard: every loss term and the input|enhanced|curve map panels.
    tags = set()
    for event_file in (run / "zerodce" / "tb").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags.update(value.tag for value in event.summary.value)
    assert {"loss/total", "loss/illumination_smoothness", "zerodce/input|enhanced|curve_map"} <= tags

    # The export is what load_zero_dce and enhance.py --model zerodce load (scale_factor 12 by default).
    model = load_zero_dce(run / "weights_zero_dce")
    assert model.scale_factor == 12 and model.count_params() == 10561
    dark = np.random.default_rng(0).integers(0, 60, size=(30, 45, 3), dtype=np.uint8)
    out = ZeroDCE.from_weights(run / "weights_zero_dce").enhance(dark)
    assert out.shape == (30, 45, 3) and np.isfinite(out).all()
    enhance = script("enhance")
    (tmp_path / "in").mkdir()
    Image.fromarray(dark).save(tmp_path / "in" / "dark.png")
    assert enhance.main([str(tmp_path / "in" / "dark.png"), "-o", str(tmp_path / "out"), "--model", "zerodce",
                         "--weights", str(run / "weights_zero_dce")]) == 0
    assert list((tmp_path / "out").iterdir())

    # Resume: a second invocation continues from step 3 and ends where an uninterrupted run ends.
    resumed = Trainer(TrainConfig(run_dir=str(run), steps=5, **common)).run()
    assert (resumed.start_step, resumed.final_step) == (3, 5)
    fresh = Trainer(TrainConfig(run_dir=str(tmp_path / "fresh"), steps=5, **common)).run()
    # (Tolerances: float round-off of multi-threaded CPU kernels; a different batch changes a loss by
    # ≫ 1e-5 and a missed or repeated step moves weights by ~lr = 1e-4.)
    for name, value in fresh.losses.items():
        assert resumed.losses[name] == pytest.approx(value, rel=1e-5, abs=1e-6), (name, resumed.losses, fresh.losses)
    a = load_zero_dce(run / "weights_zero_dce").get_weights()
    b = load_zero_dce(tmp_path / "fresh" / "weights_zero_dce").get_weights()
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)


def test_cli_and_user_errors(images_dir, tmp_path, capsys):
    train = script("train")

    # One step through the command line (argparse accepts the stage; --loss cannot replace this loss).
    args = ["--stage", "zerodce", "--data", str(images_dir), "--run-dir", str(tmp_path / "cli"), "--steps", "1",
            "--batch-size", "2", "--patch-size", "16", "--no-progress", "--eval-images", "0"]
    assert train.main(args) == 0
    assert (tmp_path / "cli" / "weights_zero_dce" / "zerodce.weights.h5").is_file()
    assert train.main(args[:-2] + ["--steps", "2", "--loss", "l1"]) == 2
    assert "--loss" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="patch-size 8"):
        Trainer(TrainConfig(**{**TINY, "patch_size": 8}, data=str(images_dir), run_dir=str(tmp_path / "small"),
                            steps=1)).run()

    # Unreadable images: one error that lists them all (and only them).
    broken = tmp_path / "broken"
    write_images(broken, count=3)
    (broken / "empty.png").write_bytes(b"")
    (broken / "sub" / "garbage.jpg").write_bytes(b"not a jpeg at all")
    (broken / "notes.txt").write_text("ignored: not an image extension")
    with pytest.raises(DataError) as error:
        load_training_images(broken, SIZE)
    message = str(error.value)
    assert "2 unreadable image file(s)" in message and "empty.png" in message and "sub/garbage.jpg" in message
    assert train.main(["--stage", "zerodce", "--data", str(broken), "--run-dir", str(tmp_path / "b"),
                       "--steps", "1", "--no-progress"]) == 2
    assert "garbage.jpg" in capsys.readouterr().err
    with pytest.raises(DataError, match="no images"):
        find_images(tmp_path / "cli" / "zerodce" / "ckpt")


def test_unpaired_pipeline_is_the_original_loader(images_dir):
    """Lanczos resize to S×S, /255 in float64 then float32, no augmentation; every image once per epoch."""
    paths = find_images(images_dir)
    assert len(paths) == 16 and paths[0].relative_to(images_dir).as_posix() == "img01.png"
    images = load_training_images(images_dir, SIZE)
    odd = next(p for p in paths if Image.open(p).size != (SIZE, SIZE))
    with Image.open(odd) as image:
        expected = (np.asarray(image.convert("RGB").resize((SIZE, SIZE), Image.LANCZOS)) / 255.0).astype(np.float32)
    assert any(np.array_equal(to_float(x), expected) for x in images)
    sampling = Sampling(seed=1, global_batch=4, patch_size=SIZE, steps_per_epoch=4)
    epoch = np.concatenate([b["images"].numpy() for b in
                            unpaired_dataset(images, sampling, start_step=0, total_steps=4, replica_batch=4)])
    as_float = to_float(images)
    order = [int(np.flatnonzero([np.array_equal(sample, x) for x in as_float])[0]) for sample in epoch]
    assert sorted(order) == list(range(16))                   # a permutation: each image once, unaltered
    # Two replicas of 2 rows see the rows of the same global batches.
    halves = [np.concatenate([b["images"].numpy() for b in unpaired_dataset(
        images, sampling, start_step=0, total_steps=4, replica_batch=2, first_replica=r)]) for r in (0, 1)]
    global_batches = epoch.reshape(4, 4, SIZE, SIZE, 3)
    np.testing.assert_array_equal(halves[0].reshape(4, 2, SIZE, SIZE, 3), global_batches[:, :2])
    np.testing.assert_array_equal(halves[1].reshape(4, 2, SIZE, SIZE, 3), global_batches[:, 2:])
