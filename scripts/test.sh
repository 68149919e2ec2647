#!/usr/bin/env bash
# Install the zoo with its dev extras and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[dev]"
python -m pytest -q "$@"
