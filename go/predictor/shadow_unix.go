//go:build unix

package predictor

import "golang.org/x/sys/unix"

// lowerGroupPriority sets the niceness of every process in group pgid.
func lowerGroupPriority(pgid, nice int) error {
	return unix.Setpriority(unix.PRIO_PGRP, pgid, nice)
}
