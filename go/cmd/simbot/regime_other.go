//go:build !unix

package main

import "os"

// notifyRegimeSwitch: without SIGUSR1 the regime never switches.
func notifyRegimeSwitch(chan<- os.Signal) {}
