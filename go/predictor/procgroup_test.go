package predictor

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// assertGroupGone checks that the process is reaped and its process group
// is empty. A grandchild killed with the group is reparented to init and may
// stay a zombie for a moment until init reaps it, so the check polls briefly
// and accepts only dead members.
func assertGroupGone(t *testing.T, pid int) {
	t.Helper()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		t.Errorf("process %d still exists after Close (not reaped): %s", pid, st)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		live := liveGroupMembers(pid)
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("process group %d still has live members after Close: %v", pid, live)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// liveGroupMembers lists /proc entries in process group pgid that are not zombies.
func liveGroupMembers(pgid int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[2] != fmt.Sprint(pgid) || f[0] == "Z" || f[0] == "X" {
			continue
		}
		out = append(out, strings.TrimSpace(s[:i+1])+" "+f[0])
	}
	return out
}
