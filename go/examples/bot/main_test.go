package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The sidecar runs in the checkout, not in the bot's directory: the paths it
// is given must already name the files the user meant.
func TestSidecarArgsAreAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(here, "elsewhere", "status.json")
	for _, tc := range []struct {
		pidfile, status string
		want            []string
	}{
		{"", "", nil},
		{"infer.pid", "", []string{"--pidfile", filepath.Join(here, "infer.pid")}},
		{"run/infer.pid", "../status.json", []string{"--pidfile", filepath.Join(here, "run", "infer.pid"),
			"--status-file", filepath.Join(filepath.Dir(here), "status.json")}},
		{"", abs, []string{"--status-file", abs}},
	} {
		got, err := sidecarArgs(tc.pidfile, tc.status)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("sidecarArgs(%q, %q) = %q, %v; want %q", tc.pidfile, tc.status, got, err, tc.want)
		}
	}
}
