#!/bin/sh
# Regenerates onnx-ml.pb.go from onnx-ml.proto. CI never runs this: the
# generated file is committed. Versions used for the committed file:
#   onnx-ml.proto  from the onnx 1.23.2 wheel (onnx/onnx-ml.proto)
#   protoc         libprotoc 3.21.12 (Debian bookworm protobuf-compiler)
#   protoc-gen-go  v1.36.7 (= google.golang.org/protobuf in go/go.mod):
#                  go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.7
set -eu
cd "$(dirname "$0")"
protoc --go_out=. --go_opt=paths=source_relative \
	--go_opt=Monnx-ml.proto=github.com/sigmagate/sigmagate/go/internal/onnxpb \
	onnx-ml.proto
