#!/usr/bin/env python
"""Train one KinD stage or Zero-DCE++: ``python train.py --stage decom|restore|adjust|zerodce --data DIR ...``.

A thin wrapper: the command is :mod:`kind_tf.cli.train` (also installed as ``kind-tf train``);
``python train.py --help`` explains the stages, presets and options.
"""

import sys

from kind_tf.cli.train import main, parse_args  # noqa: F401  (parse_args: the script's parser, as before)

if __name__ == "__main__":
    sys.exit(main())
