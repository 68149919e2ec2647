#!/usr/bin/env bash
# Install the zoo with its dev extras and run the test suite; extra arguments go
# to pytest (`-n 2`: on two pytest-xdist workers, about 20 instead of 34 minutes on
# two cores; not the default while an ONNX export test fails under it now and then).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[dev]"
python -m pytest -q "$@"
