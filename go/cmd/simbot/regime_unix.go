//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyRegimeSwitch delivers SIGUSR1, the regime switch, on sig.
func notifyRegimeSwitch(sig chan<- os.Signal) { signal.Notify(sig, syscall.SIGUSR1) }
