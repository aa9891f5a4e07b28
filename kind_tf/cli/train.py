"""Train one stage of a method: KinD's decom, then restore and adjust (which use the run's frozen DecomNet);
Zero-DCE++'s zerodce; KinD++'s kindpp_decom, kindpp_illu, kindpp_restore. --stage lists every registered
stage. (train.py and ``kind-tf train`` both run this module's main().)

    python train.py --stage decom   --data DATA/train --eval-data DATA/eval --run-dir runs/kind
    python train.py --stage restore --data DATA/train --eval-data DATA/eval --run-dir runs/kind
    python train.py --stage adjust  --data DATA/train --eval-data DATA/eval --run-dir runs/kind

DATA/train holds low/ and high/ whose images pair by file name. Defaults reproduce the original
recipe (--preset original: decom batch 10 / patch 48 / 2000 epochs, restore batch 4 / patch 384 /
1000 epochs with lr ÷2 after epoch 800, adjust batch 10 / patch 48 / 2000 epochs, Adam lr 1e-4);
--preset cpu is a short schedule for a 2-core CPU, same losses and data (decom 5000 steps and adjust
10000 steps of batch 10 / patch 48, restore 2000 steps of batch 4 / patch 96 with lr ÷2 at 80 %):
about 15, 15 and 6 minutes. Re-running a command resumes it from RUN/<stage>/ckpt;
Ctrl-C or SIGTERM saves and stops. Trained weights land in RUN/weights (KinD.from_weights loads it).

    python train.py --stage zerodce --data IMAGES --run-dir runs/zero_dce [--preset cpu] [--mixed-precision]

trains Zero-DCE++ on a folder of unpaired images (zero-reference losses, no targets), as the
original lowlight_train.py: images resized to 512×512, batch 8, 100 epochs, Adam lr 1e-4 with torch's
weight_decay 1e-4 (L2 added to the gradient) after global-norm gradient clipping at 0.1,
scale_factor 1 (about 60 h on a 2-core CPU). --preset cpu keeps the 512-px images, losses, optimiser,
lr and batch, runs DCE-Net at scale factor 12 (as at inference) and stops after 750 steps (about 7 min).
--patch-size sets the resize side; --eval-data (optional) is any folder of images for the TensorBoard
input|enhanced|curve-map panels. Weights land in RUN/weights_zero_dce (scale_factor 12 for inference;
enhance.py --model zerodce --weights RUN/weights_zero_dce).

    python train.py --stage kindpp_decom   --data DATA/train --eval-data DATA/eval --run-dir runs/kindpp
    python train.py --stage kindpp_illu    --data DATA/train --eval-data DATA/eval --run-dir runs/kindpp
    python train.py --stage kindpp_restore --data DATA/train --eval-data DATA/eval --run-dir runs/kindpp

trains KinD++ as its original scripts (--preset original: decom 2500 epochs with equal_R 0.009,
illumination 2000 epochs with the signed-gradient loss, MSIA restoration batch 10 / patch 48 / 2400
epochs with lr 1e-4 → 1.25e-5, batch norm in training mode); --preset cpu: decom and illumination as
KinD's cpu preset, restoration a 100-step smoke run (its full schedule is the accelerator's). Weights land
in RUN/weights_kindpp (enhance.py --method kindpp --weights RUN/weights_kindpp).

--loss SPEC replaces the restore or adjust stage's loss by weighted library losses on (target,
output), e.g. --loss l1:1,ssim:1,color_angle:0.5 or --loss original:1,laplacian:1 ("original" = the
stage's recipe, the default); see kind_tf.losses.describe() and docs/ablation_losses.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from kind_tf.cli import script_help

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SCRIPT = "train.py"


def build_parser(prog: str = SCRIPT) -> argparse.ArgumentParser:
    """train's options; ``prog`` names the command in usage, examples and error lines (train.py or kind-tf train)."""
    parser = argparse.ArgumentParser(prog=prog, description=script_help(__doc__, SCRIPT, prog),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from kind_tf import methods

    parser.add_argument("--stage", required=True, choices=methods.stages(),
                        help="the stage to train (every registered method's: %(choices)s)")
    parser.add_argument("--data", required=True, help="training folder with low/ and high/ (zerodce: any folder "
                        "of images, sub-folders included)")
    parser.add_argument("--eval-data", help="evaluation folder with low/ and high/ (a few pairs are used; "
                        "zerodce: any folder of images, default: the training folder)")
    parser.add_argument("--run-dir", default="runs/kind", help="run folder (default: runs/kind)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="train this many steps in total (overrides the preset; lr decays "
                        "keep their place as a fraction of the run, e.g. restore ÷2 at 80 %%)")
    length.add_argument("--epochs", type=int, help="train this many epochs of len(pairs) // batch steps")
    parser.add_argument("--batch-size", type=int, help="global batch size (default: the preset's)")
    parser.add_argument("--patch-size", type=int, help="square training patch side (default: the preset's)")
    parser.add_argument("--lr", type=float, help="base Adam learning rate (default 1e-4)")
    parser.add_argument("--scale-factor", type=int, help="zerodce: DCE-Net's downsampling factor while training "
                        "(default: the preset's; the original trains at 1, the losses stay full-resolution)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data order, crops and init (default 0)")
    parser.add_argument("--strategy", default="auto", choices=["auto", "default", "mirrored", "multiworker", "tpu"],
                        help="tf.distribute strategy (TensorFlow backend; on JAX one device: auto/default)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed_float16 on GPU, mixed_bfloat16 elsewhere (losses stay float32)")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the forward/backward pass")
    parser.add_argument("--preset", default="original",
                        help="the stage's recipe: original (the paper's code; default) or cpu (a short run for "
                             "2 CPU cores)")
    parser.add_argument("--decom-weights", help="weights folder with decom.weights.h5 for the frozen DecomNet "
                        "(restore / adjust; default: RUN/weights)")
    parser.add_argument("--init-weights", metavar="DIR",
                        help="fine-tune: start a new run from this weights folder's weights of the stage "
                             "(ignored when resuming: the checkpoint wins)")
    parser.add_argument("--degrade", metavar="SPEC",
                        help="restore: also train on a copy of every low image re-encoded as JPEG at a quality "
                             "drawn per image, e.g. 'jpeg:20-60' (kind_tf.data.degrade)")
    parser.add_argument("--loss", metavar="SPEC",
                        help="restore/adjust loss as 'name[:weight],...' over kind_tf.losses (e.g. "
                             "'l1:1,ssim:1'); 'original' = the stage's recipe (default)")
    parser.add_argument("--backbone", choices=methods.backbones(), default="kind",
                        help="restore-stage network: the original RestorationNet (default) or the improved U-Net")
    parser.add_argument("--backbone-config", metavar="JSON", default=None,
                        help='backbone constructor arguments, e.g. \'{"fpn": false, "sad_weight": 0.1}\'')
    parser.add_argument("--save-every", type=int, default=500, help="checkpoint + export every N steps")
    parser.add_argument("--log-every", type=int, default=10, help="TensorBoard scalars every N steps")
    parser.add_argument("--eval-every", type=int, default=500, help="evaluate on --eval-data every N steps")
    parser.add_argument("--image-every", type=int, help="image summaries every N steps (default: --eval-every)")
    parser.add_argument("--eval-images", type=int, default=4, help="how many eval pairs to use (default 4)")
    parser.add_argument("--eval-size", type=int, default=256,
                        help="downscale eval images to this longest side (default 256)")
    parser.add_argument("--time-limit", type=float, metavar="SECONDS",
                        help="stop after this much training (saving a checkpoint); re-run the command to go on")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own start-up log lines")
    return parser


def parse_args(argv: list[str] | None = None, prog: str = SCRIPT) -> argparse.Namespace:
    return build_parser(prog).parse_args(argv)


def main(argv: list[str] | None = None, prog: str = SCRIPT) -> int:
    """Run train; returns the exit code: 0 done, 2 a user error and 3 a diverged run (one '<prog>: error:'
    line each), 128 + N stopped by signal N (the checkpoint saved)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv, prog)
    from kind_tf._quiet import start_backend

    start_backend(args.verbose)
    from kind_tf.training import USER_ERRORS, TrainConfig, TrainingDiverged, train

    try:
        backbone_config = json.loads(args.backbone_config) if args.backbone_config else None
    except json.JSONDecodeError as error:
        print(f"{prog}: error: --backbone-config is not valid JSON ({error})", file=sys.stderr)
        return 2
    if backbone_config is not None and not isinstance(backbone_config, dict):
        print(f"{prog}: error: --backbone-config must be a JSON object", file=sys.stderr)
        return 2
    config = TrainConfig(
        stage=args.stage, data=args.data, eval_data=args.eval_data, run_dir=args.run_dir, preset=args.preset,
        steps=args.steps, epochs=args.epochs, batch_size=args.batch_size, patch_size=args.patch_size,
        lr=args.lr, scale_factor=args.scale_factor, seed=args.seed, strategy=args.strategy,
        mixed_precision=args.mixed_precision, jit=args.jit, decom_weights=args.decom_weights,
        init_weights=args.init_weights, degrade=args.degrade, loss=args.loss, backbone=args.backbone,
        backbone_config=backbone_config, save_every=args.save_every, log_every=args.log_every,
        eval_every=args.eval_every, image_every=args.image_every, eval_images=args.eval_images,
        eval_size=args.eval_size, time_limit=args.time_limit, progress=not args.no_progress,
        command=f"{'python ' if prog.endswith('.py') else ''}{prog} {shlex.join(argv)}")
    try:
        result = train(config)
    except USER_ERRORS as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 3
    losses = " ".join(f"{k}={v:.5f}" for k, v in result.losses.items())
    print(f"{result.stage}: {result.status} at step {result.final_step}/{result.total_steps} "
          f"({result.steps_per_second:.2f} steps/s) {losses}")
    if result.eval_metrics:
        print("eval: " + " ".join(f"{k}={v:.4f}" for k, v in sorted(result.eval_metrics.items())))
    print(f"checkpoint: {result.checkpoint}  weights: {result.weights_dir}")
    if result.status == "interrupted":
        return 128 + (result.signal or 0)
    return 0
