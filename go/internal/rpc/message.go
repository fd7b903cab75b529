// Package rpc is the msgpack-rpc layer of the infer protocol
// (docs/PROTOCOL.md): it turns messages into bytes and a byte stream into
// messages, and nothing else. Transport (pipes, processes) and the session
// (msgid table, batching) live in package predictor.
package rpc

import (
	"errors"
	"fmt"
)

// Message types, the first element of every msgpack-rpc array.
const (
	TypeRequest      = 0
	TypeResponse     = 1
	TypeNotification = 2
)

// MaxMessageSize is the protocol's limit on one message (1 MiB).
const MaxMessageSize = 1 << 20

// maxDepth bounds nesting when skipping or capturing values. Protocol
// messages nest at most five levels; the bound keeps a corrupt stream from
// recursing a million levels deep.
const maxDepth = 32

// ErrTooLarge is returned when a message exceeds MaxMessageSize.
var ErrTooLarge = errors.New("rpc: message exceeds 1 MiB")

// Message is one decoded msgpack-rpc message. Params and Result are the raw
// MessagePack bytes of those elements, for the session to decode by method.
type Message struct {
	Type   int
	MsgID  uint32 // requests and responses
	Method string // requests and notifications
	Params []byte // requests and notifications: a MessagePack array
	Error  *Error // responses: nil on success
	Result []byte // responses: nil (MessagePack nil) on error
}

// Error is a sidecar's error answer: the protocol's array
// [code, message] or [code, message, {"record", "field"}] (docs/PROTOCOL.md).
type Error struct {
	Code    string
	Message string
	Record  int // index in records, or -1 when absent
	Field   string
}

func (e *Error) Error() string {
	s := "infer: " + e.Code + ": " + e.Message
	if e.Record >= 0 {
		s += fmt.Sprintf(" (record %d", e.Record)
		if e.Field != "" {
			s += ", field " + e.Field
		}
		s += ")"
	}
	return s
}

// The error codes of docs/PROTOCOL.md that the Go side acts on; any other
// code reaches the caller as it came, in Error.Code.
const (
	CodeBadFeatures = "bad_features"
	CodeNoModel     = "no_model"
	CodeInternal    = "internal"
)
