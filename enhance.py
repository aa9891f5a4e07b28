#!/usr/bin/env python
"""Enhance dark photos with kind-tf: ``python enhance.py [PHOTOS] [-o OUT] [--weights PRESET|DIR] ...``.

A thin wrapper: the command is :mod:`kind_tf.cli.enhance` (also installed as ``kind-tf enhance``);
``python enhance.py --help`` lists its options, the methods and the shipped presets.
"""

import sys

from kind_tf.cli.enhance import main, parse_args  # noqa: F401  (parse_args: the script's parser, as before)

if __name__ == "__main__":
    from kind_tf._quiet import assume_frozen_weights

    assume_frozen_weights()   # an inference-only process (see kind_tf._quiet.assume_frozen_weights)
    sys.exit(main())
