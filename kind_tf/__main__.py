"""``python -m kind_tf COMMAND ...``: the ``kind-tf`` command without its console script (e.g. in a checkout)."""

import sys

from kind_tf.cli import console_main

if __name__ == "__main__":
    sys.exit(console_main())
