#!/usr/bin/env bash
# The environment scripts/make_quantised_tflite.py runs in (not needed by the tests, which read
# the fixtures it made): TensorFlow's CPU build, version $1 (default 2.13.1: the converter's
# calibrator in 2.14 and later segfaults on models with a WHILE loop, tensorflow/tensorflow#75140,
# which DDSP-VST's GRU is; dynamic-range conversion works in later versions too).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-2.13.1}
rm -rf .venv-tf
python3 -m venv .venv-tf
# tf2onnx and onnxruntime: `make_quantised_tflite.py onnx`, the same network for ONNX Runtime's
# column of the README's performance table (measured with 2.15.1).
.venv-tf/bin/pip install -q "tensorflow-cpu==$version" "tf2onnx==1.16.1" "onnxruntime==1.20.1"
echo "ready (tensorflow-cpu $version): .venv-tf/bin/python scripts/make_quantised_tflite.py [dynamic|int8|onnx]"
