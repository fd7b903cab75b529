"""sigmagate's inference sidecar: MessagePack-RPC on stdin/stdout (docs/PROTOCOL.md)."""
