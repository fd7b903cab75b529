//go:build unix

package sidecar

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup makes the child the leader of a new process group, whose
// id is its pid.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup signals the child's whole process group.
func killGroup(pgid int, sig syscall.Signal) { _ = syscall.Kill(-pgid, sig) }

// signalReload sends SIGHUP to the child alone.
func signalReload(pid int) error { return syscall.Kill(pid, syscall.SIGHUP) }

// writeNonBlocking writes b to the non-blocking pipe at once or not at all:
// syscall.EAGAIN when the pipe has no room. A single-record request is far
// below PIPE_BUF, so the kernel writes it whole or refuses it.
func writeNonBlocking(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				return true
			}
		}
	})
	if err != nil {
		return n, err
	}
	return n, werr
}
