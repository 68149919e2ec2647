"""Train U-Net: unet_padding (default) or unet_original.

A thin wrapper of the shared command line (:mod:`train_scripts.cli`) with the
model family fixed; ``--help`` lists every option.

Usage:
    python -m train_scripts.train_unet --help
"""

from __future__ import annotations

import sys

from train_scripts.cli import main

if __name__ == "__main__":
    sys.exit(main(family="unet"))
