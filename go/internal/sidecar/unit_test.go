package sidecar

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestBackoffDoublesAndIsCapped(t *testing.T) {
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := backoff(i+1, 100*time.Millisecond, time.Second); got != w*time.Millisecond {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := backoff(1000, 100*time.Millisecond, time.Second); got != time.Second {
		t.Errorf("backoff(1000) = %v", got)
	}
}

func TestChildJSONLogLinesBecomeStructuredRecords(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logChildLine(log, `{"ts":"2026-11-24T02:00:00Z","level":"warning","msg":"reload failed","path":"/m"}`)
	logChildLine(log, `Traceback (most recent call last):`)
	out := buf.String()
	if !containsAll(out, `"level":"WARN","msg":"reload failed"`, `"path":"/m"`, `"child_ts":"2026-11-24T02:00:00Z"`) {
		t.Fatalf("structured line lost: %s", out)
	}
	if !containsAll(out, `"msg":"Traceback (most recent call last):"`) {
		t.Fatalf("plain line lost: %s", out)
	}
}
