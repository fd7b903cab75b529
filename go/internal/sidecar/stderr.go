package sidecar

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
)

// forwardStderr turns the sidecar's stderr — one JSON object per line,
// {"ts","level","msg",…} per docs/PROTOCOL.md — into records of the bot's
// logger. Lines that are not JSON (a Python traceback, a crash message from
// a native library) are logged as they are, at warning level.
func (s *Session) forwardStderr() {
	defer s.wg.Done()
	log := s.o.ChildLog.With("pid", s.pid)
	// Lines longer than the buffer are logged in pieces rather than
	// buffered without bound.
	r := bufio.NewReaderSize(s.stderr, 64<<10)
	for {
		chunk, err := r.ReadSlice('\n')
		if line := strings.TrimRight(string(chunk), "\r\n"); line != "" {
			logChildLine(log, line)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func logChildLine(log *slog.Logger, line string) {
	var rec map[string]any
	if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &rec) != nil {
		log.Warn(line)
		return
	}
	msg, _ := rec["msg"].(string)
	lvl, _ := rec["level"].(string)
	attrs := make([]slog.Attr, 0, len(rec))
	for k, v := range rec {
		switch k {
		case "msg", "level":
		case "ts":
			attrs = append(attrs, slog.Any("child_ts", v))
		default:
			attrs = append(attrs, slog.Any(k, v))
		}
	}
	log.LogAttrs(context.Background(), childLevel(lvl), msg, attrs...)
}

func childLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error", "critical", "fatal":
		return slog.LevelError
	}
	return slog.LevelInfo
}
