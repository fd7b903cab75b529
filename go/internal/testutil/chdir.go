// Package testutil holds helpers shared by the module's tests.
package testutil

import (
	"os"
	"testing"
)

// Chdir is testing.T.Chdir for Go releases before 1.24 (the module supports
// 1.22): it changes the working directory for the rest of the test and
// restores it afterwards. Tests that call it must not run in parallel.
func Chdir(t testing.TB, dir string) {
	t.Helper()
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(old) })
}
