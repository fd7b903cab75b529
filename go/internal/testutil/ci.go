package testutil

import (
	"os"
	"strings"
	"testing"
)

// InCI reports whether CI is "1" or "true" (any case), as CI services set it.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "1" || v == "true"
}

// SkipOrFail skips a test whose prerequisite (the project's Python, a
// package in it) is missing, except in CI, where it fails: a CI job without
// the prerequisite is broken, and skipping would pass it silently.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=%s, so this test must run, not skip: "+format, append([]any{os.Getenv("CI")}, args...)...)
		return
	}
	t.Skipf(format, args...)
}
