package rpc

// ProtocolVersion is the version of docs/PROTOCOL.md this side speaks, the
// `protocol` field of the sidecar's ready notification (infer/protocol.py's
// PROTOCOL_VERSION; the cross-language vectors test ties the two).
const ProtocolVersion = 2

// Info is the map carried by `ready`, `model_loaded` and the `info` method.
type Info struct {
	Protocol int        `msgpack:"protocol"`
	PID      int        `msgpack:"pid"`
	Model    *ModelInfo `msgpack:"model"`
	Error    *string    `msgpack:"error"`
}

// ModelInfo describes the model being served.
type ModelInfo struct {
	Version   string   `msgpack:"version"`
	SHA256    string   `msgpack:"sha256"`
	Features  []string `msgpack:"features"`
	Threshold float64  `msgpack:"threshold"`
	Variant   string   `msgpack:"variant"`
	Path      string   `msgpack:"path"`
	LoadedAt  string   `msgpack:"loaded_at"`
}

// PredictResult is the result of `predict`.
type PredictResult struct {
	P         []float64 `msgpack:"p"`
	Approve   []bool    `msgpack:"approve"`
	Threshold float64   `msgpack:"threshold"`
	Version   string    `msgpack:"version"`
	OOD       []bool    `msgpack:"ood"`
}

// ReloadFailed is the param of the `reload_failed` notification.
type ReloadFailed struct {
	Error string `msgpack:"error"`
	Path  string `msgpack:"path"`
}
