package pipe

import "time"

// Whether to poll on while an answer is owed is decided by trial. Polling
// wins when the child has a CPU to itself: a wake-up then costs more than
// the wait, once per batch on each side. Parking wins on a busy host, where
// the poll takes the very CPU the child needs to answer, and when answers
// are rare, where polling buys nothing and costs CPU. Every so often the
// reader alternates the two, a block of owed reads at a time, and keeps
// polling only if the answers' bytes came clearly faster that way. A trial
// is short, so one that changed the choice is run again soon: a noisy trial
// then costs a few hundred reads in the wrong mode, not thousands.
const (
	trialBlock  = 8    // owed reads per block of one mode
	trialBlocks = 8    // blocks per trial, alternating park and poll
	firstTrial  = 256  // owed reads before the first trial, and after one that changed the choice
	trialEvery  = 4096 // owed reads between trials otherwise
	pollMargin  = 1.05 // polling must read this much faster to be kept
)

// owedChoice is that decision, for one reader goroutine (not safe for
// concurrent use).
type owedChoice struct {
	poll    bool      // the current choice
	reads   int       // owed reads since the last trial
	every   int       // owed reads before the next trial: firstTrial or trialEvery
	trial   int       // owed reads into the running trial; -1 when none runs
	last    time.Time // when the previous owed read returned
	bytes   [2]int    // by mode (park, poll), during the trial
	spent   [2]time.Duration
	trials  int // trials run
	flipped int // trials that changed the choice
}

func newOwedChoice() *owedChoice {
	return &owedChoice{poll: true, every: firstTrial, trial: -1}
}

// Poll reports whether the next owed read should poll past the plain spin.
func (c *owedChoice) Poll() bool {
	if c.trial >= 0 {
		return c.trial/trialBlock%2 == 1
	}
	return c.poll
}

// Observe records an owed read that found the pipe empty, polled as Poll
// said, and returned n bytes at end. Its share of the trial is the time
// since the previous such read returned: the whole turn of the
// conversation, the callers' side included, not just the wait.
func (c *owedChoice) Observe(n int, end time.Time) {
	since := end.Sub(c.last)
	c.last = end
	if c.trial < 0 {
		if c.reads++; c.reads >= c.every {
			c.trial = 0
			c.bytes, c.spent = [2]int{}, [2]time.Duration{}
		}
		return
	}
	mode := c.trial / trialBlock % 2
	// A block's first turn still began under the other mode: not counted.
	if c.trial%trialBlock != 0 {
		c.bytes[mode] += n
		c.spent[mode] += since
	}
	if c.trial++; c.trial < trialBlock*trialBlocks {
		return
	}
	rate := func(m int) float64 { return float64(c.bytes[m]) / max(c.spent[m].Seconds(), 1e-9) }
	poll := rate(1) > pollMargin*rate(0)
	c.trials++
	c.every = trialEvery
	if poll != c.poll {
		c.flipped++
		c.every = firstTrial
	}
	c.poll, c.trial, c.reads = poll, -1, 0
}
