//go:build !unix

package sidecar

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// Without process groups the child alone is started and killed, and without
// SIGHUP a model is reloaded only by a restart.

func ownProcessGroup(*exec.Cmd) {}

func killGroup(pid int, _ syscall.Signal) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func signalReload(int) error {
	return errors.New("reloading needs SIGHUP, which this platform lacks; restart the bot to load a new model")
}

// writeNonBlocking never writes: every request goes through the writer goroutine.
func writeNonBlocking(syscall.RawConn, []byte) (int, error) { return 0, syscall.EAGAIN }
