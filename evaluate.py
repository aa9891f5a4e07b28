#!/usr/bin/env python
"""Evaluate enhancement methods on a folder of images: ``python evaluate.py --method NAME[,NAME] --data DIR``.

A thin wrapper: the command is :mod:`kind_tf.cli.evaluate` (also installed as ``kind-tf evaluate``);
``python evaluate.py --help`` lists the methods, metrics and options.
"""

import sys

from kind_tf.cli.evaluate import build_parser, main  # noqa: F401  (build_parser: the script's parser, as before)

if __name__ == "__main__":
    from kind_tf._quiet import assume_frozen_weights

    assume_frozen_weights()   # an inference-only process (see kind_tf._quiet.assume_frozen_weights)
    sys.exit(main())
