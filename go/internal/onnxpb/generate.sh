#!/bin/sh
# Regenerates onnx-ml.pb.go from the onnx wheel's own onnx-ml.proto (the
# schema is read from the installed onnx package, not kept a second time
# here). CI never runs this: the generated file is committed. Versions used
# for the committed file:
#   onnx-ml.proto  from the onnx 1.23.2 wheel (onnx/onnx-ml.proto)
#   protoc         libprotoc 3.21.12 (Debian bookworm protobuf-compiler)
#   protoc-gen-go  v1.36.7 (= google.golang.org/protobuf in go/go.mod):
#                  go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.7
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
python="${SIGMAGATE_PYTHON:-$here/../../../.venv/bin/python}"
onnx_dir="$("$python" -c 'import os, onnx; print(os.path.dirname(onnx.__file__))')"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$onnx_dir/onnx-ml.proto" "$tmp/onnx-ml.proto"
cd "$tmp"
protoc --go_out="$here" --go_opt=paths=source_relative \
	--go_opt=Monnx-ml.proto=github.com/sigmagate/sigmagate/go/internal/onnxpb \
	onnx-ml.proto
