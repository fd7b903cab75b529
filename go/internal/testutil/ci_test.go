package testutil

import "testing"

func TestInCIReadsOneOrTrue(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "TRUE": true, "": false, "0": false, "false": false, "yes": false} {
		t.Setenv("CI", v)
		if got := InCI(); got != want {
			t.Errorf("CI=%q: InCI() = %v, want %v", v, got, want)
		}
	}
}

// tb records what SkipOrFail does instead of ending the test.
type tb struct {
	testing.TB
	failed, skipped bool
}

func (f *tb) Helper()               {}
func (f *tb) Fatalf(string, ...any) { f.failed = true }
func (f *tb) Skipf(string, ...any)  { f.skipped = true }

func TestSkipOrFailFailsInCIAndSkipsOtherwise(t *testing.T) {
	t.Setenv("CI", "true")
	f := &tb{TB: t}
	SkipOrFail(f, "no Python at %s", "/x")
	if !f.failed || f.skipped {
		t.Fatalf("in CI: failed %v skipped %v", f.failed, f.skipped)
	}
	t.Setenv("CI", "")
	f = &tb{TB: t}
	SkipOrFail(f, "no Python at %s", "/x")
	if f.failed || !f.skipped {
		t.Fatalf("outside CI: failed %v skipped %v", f.failed, f.skipped)
	}
}
