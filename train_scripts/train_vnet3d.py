"""Train the 3D V-Nets: vnet_3d (default), vnet3d or vnet3d_depthwise.

A thin wrapper of the shared command line (:mod:`train_scripts.cli`) with the
model family fixed; ``--help`` lists every option.

Usage:
    python -m train_scripts.train_vnet3d --help
"""

from __future__ import annotations

import sys

from train_scripts.cli import main

if __name__ == "__main__":
    sys.exit(main(family="vnet3d"))
