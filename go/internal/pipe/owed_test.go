package pipe

import (
	"testing"
	"time"
)

// drive feeds c owed reads of 100 bytes until it has run one more trial,
// each taking turn(poll) since the previous; it returns the modes the trial
// used, read by read.
func drive(t *testing.T, c *owedChoice, turn func(poll bool) time.Duration) []bool {
	t.Helper()
	now := time.Unix(0, 0)
	c.last = now
	before := c.trials
	var modes []bool
	for i := 0; c.trials == before; i++ {
		if i > trialEvery+trialBlock*trialBlocks {
			t.Fatal("no trial ran")
		}
		poll := c.Poll()
		if c.trial >= 0 {
			modes = append(modes, poll)
		}
		now = now.Add(turn(poll))
		c.Observe(100, now)
	}
	return modes
}

func TestOwedChoiceKeepsPollingWhereItAnswersFaster(t *testing.T) {
	c := newOwedChoice()
	if !c.Poll() {
		t.Fatal("a new reader does not poll for owed answers")
	}
	modes := drive(t, c, func(poll bool) time.Duration {
		if poll {
			return 100 * time.Microsecond
		}
		return 160 * time.Microsecond // two wake-ups per turn
	})
	if len(modes) != trialBlock*trialBlocks {
		t.Fatalf("trial of %d reads, want %d", len(modes), trialBlock*trialBlocks)
	}
	for i, poll := range modes {
		if want := i/trialBlock%2 == 1; poll != want {
			t.Fatalf("read %d of the trial polled=%v; want blocks of %d alternating, parking first", i, poll, trialBlock)
		}
	}
	if !c.Poll() {
		t.Fatal("stopped polling although polling turned the conversation faster")
	}
}

func TestOwedChoiceParksOnABusyHostAndWhenPollingBuysNothing(t *testing.T) {
	c := newOwedChoice()
	drive(t, c, func(poll bool) time.Duration {
		if poll {
			return 700 * time.Microsecond // the poll starves the child
		}
		return 100 * time.Microsecond
	})
	if c.Poll() || c.flipped != 1 {
		t.Fatalf("polls=%v after a trial where parking was 7x faster (flipped %d)", c.Poll(), c.flipped)
	}
	// Sparse traffic: the callers' pace sets the turn, whatever the reader does.
	c = newOwedChoice()
	drive(t, c, func(bool) time.Duration { return 100 * time.Millisecond })
	if c.Poll() {
		t.Fatal("polls for owed answers although it answered no faster than parking")
	}
}

// readsToTrial counts the owed reads until the next trial starts.
func readsToTrial(c *owedChoice) int {
	n := 0
	for c.trial < 0 {
		c.Observe(100, c.last.Add(100*time.Microsecond))
		n++
	}
	return n
}

func TestOwedChoiceChecksAChangeSoonAndAConfirmedChoiceRarely(t *testing.T) {
	busy := func(poll bool) time.Duration {
		if poll {
			return time.Millisecond
		}
		return 100 * time.Microsecond
	}
	c := newOwedChoice()
	drive(t, c, busy)
	if c.Poll() {
		t.Fatal("want parking after the first trial")
	}
	// The trial changed the choice: one noisy trial must not hold it long.
	if n := readsToTrial(c); n != firstTrial {
		t.Fatalf("trial after a change came %d owed reads later, want %d", n, firstTrial)
	}
	drive(t, c, busy)
	if c.Poll() {
		t.Fatal("want parking confirmed by the second trial")
	}
	if n := readsToTrial(c); n != trialEvery {
		t.Fatalf("trial after a confirmation came %d owed reads later, want %d", n, trialEvery)
	}
	// The host calmed down: polling pays again and is taken back.
	drive(t, c, func(poll bool) time.Duration {
		if poll {
			return 80 * time.Microsecond
		}
		return 150 * time.Microsecond
	})
	if !c.Poll() || c.trials != 3 {
		t.Fatalf("polls=%v after %d trials; want polling taken back at the third", c.Poll(), c.trials)
	}
}
