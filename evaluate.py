#!/usr/bin/env python
"""Evaluate enhancement methods on paired or unpaired image folders (being built: see the evaluation issue)."""

import sys

if __name__ == "__main__":
    print("evaluate.py is not implemented yet: metrics live in kind_tf.metrics once they land.", file=sys.stderr)
    sys.exit(2)
