//go:build unix

package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// memKB reads VmRSS and VmHWM (peak RSS) of pid from /proc, in KiB.
func memKB(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for key, dst := range map[string]*int64{"VmRSS:": &rss, "VmHWM:": &hwm} {
			if rest, ok := strings.CutPrefix(line, key); ok {
				fields := strings.Fields(rest)
				if len(fields) > 0 {
					*dst, _ = strconv.ParseInt(fields[0], 10, 64)
				}
			}
		}
	}
	return rss, hwm, sc.Err()
}

// rssSampler records the largest RSS of a process seen while it runs.
type rssSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	max  int64
}

func startRSSSampler(pid func() int, every time.Duration) *rssSampler {
	s := &rssSampler{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if p := pid(); p > 0 {
				if rss, _, err := memKB(p); err == nil {
					s.mu.Lock()
					s.max = max(s.max, rss)
					s.mu.Unlock()
				}
			}
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() int64 {
	close(s.done)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, which
// Linux fixes at 100 for user space whatever the kernel's own tick rate).
const userHZ = 100

// procCPU is the CPU time (user and system, every thread, reaped threads
// included) that pid has used, from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of pid %d: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces: count fields after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// utime and stime are fields 14 and 15 of stat(5); f[0] is field 3.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name, want at least 13", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: CPU time %q: %w", pid, s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// selfCPU is the CPU time this process has used (user and system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	// RUSAGE_SELF with a valid pointer cannot fail: there is no error to report.
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures the CPU time spent by this process and by a target's
// server process (the sidecar, the echo, the HTTP service) over a span of
// calls. A server replaced meanwhile (a restarted sidecar) makes the span
// unmeasured: its CPU time before the restart is not known.
type cpuMeter struct {
	pid       func() int // the server's pid, 0 while it has none
	self0     time.Duration
	server0   time.Duration
	serverPID int
	err       error
}

func startCPUMeter(t target) *cpuMeter {
	m := &cpuMeter{self0: selfCPU(), pid: func() int { return 0 }}
	if pt, ok := t.(pider); ok {
		m.pid = pt.pid
	}
	if m.serverPID = m.pid(); m.serverPID > 0 {
		m.server0, m.err = procCPU(m.serverPID)
	}
	return m
}

// stop returns the CPU time used since start by this process and by the
// server (0 when there was none).
func (m *cpuMeter) stop() (self, server time.Duration, err error) {
	self = selfCPU() - m.self0
	switch pid := m.pid(); {
	case m.err != nil:
		return self, 0, m.err
	case pid != m.serverPID:
		return self, 0, fmt.Errorf("the server process changed from pid %d to %d", m.serverPID, pid)
	case pid == 0:
		return self, 0, nil
	}
	c, err := procCPU(m.serverPID)
	if err != nil {
		return self, 0, err
	}
	return self, c - m.server0, nil
}
