"""sigmagate's inference sidecar: MessagePack-RPC on stdin/stdout (docs/PROTOCOL.md).

Layers, from the pipe inwards:

* transport.py — raw stdin/stdout: spin-then-block reads, whole writes;
  spin.py decides whether a read spins, from the client's turnarounds.
* protocol.py — framing, limits, resync, error codes, request shapes.
* server.py — the loop: one read, one turn, one write; dispatch of methods.
* single.py — the byte-level path for a read that is one `predict` of array
  records: the Go predictor's requests, one record or a batch.
* records.py + batch.py — the general path: validate records, score a batch.
* answer.py — the `predict` answer's shape and its one-record encoder.
* outbox.py — responses and throttled `error` notifications of one turn.
* model.py + scorer.py — loading a model directory; calling onnxruntime.
* reload.py + status.py — background reloads; the deploy status file.
"""
