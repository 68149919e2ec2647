#!/usr/bin/env bash
# Install the zoo with its dev extras and run the test suite, one pytest-xdist
# worker per CPU core (at most 4); extra arguments go to pytest (`-n 0`: serial).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[dev]"
python -m pytest -q -n auto --maxprocesses 4 --dist loadgroup "$@"
