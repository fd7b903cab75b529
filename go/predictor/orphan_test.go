//go:build unix

// POSIX only: process groups and POSIX signals.

package predictor

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBotKilledLeavesNoOrphan(t *testing.T) {
	e := needSidecar(t)
	model := tinyModel(t, "tiny-a", 1)
	bot := exec.Command(os.Args[0], "-test.run=^$")
	bot.Env = append(os.Environ(), "SIGMAGATE_TEST_BOT=1", "SIGMAGATE_ROOT="+e.root,
		"SIGMAGATE_TEST_BOT_PY="+e.python, "SIGMAGATE_TEST_BOT_MODEL="+model)
	out, err := bot.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := bot.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		bot.Process.Kill()
		bot.Wait()
		t.Fatalf("bot: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		bot.Process.Kill()
		bot.Wait()
		t.Fatalf("bot printed %q", line)
	}
	if len(liveGroupMembers(pid)) == 0 {
		bot.Process.Kill()
		bot.Wait()
		t.Fatalf("sidecar %d is not running before the bot is killed", pid)
	}
	// The bot dies without calling Close; its end of the sidecar's stdin
	// closes with it, and the sidecar must exit on that EOF.
	if err := bot.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	bot.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(liveGroupMembers(pid)) > 0 {
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("sidecar %d outlived its killed bot by 10s: %v", pid, liveGroupMembers(pid))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
