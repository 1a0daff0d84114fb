package main

import (
	"testing"
	"time"
)

// measured is a round that answered n requests in one second.
func measured(n int) result { return result{requests: n, elapsed: time.Second} }

// rowOf is a row measured in the given rounds.
func rowOf(rounds ...result) row { return row{r: merge(rounds), rounds: rounds} }

func TestCompareGivesTheRangeOfTheRounds(t *testing.T) {
	ours := rowOf(measured(900), measured(1200), measured(1000))
	node := rowOf(measured(100), measured(100), measured(80))

	c := compare("ours ÷ node", ours, node, rpsRatio)
	if c.got != 3100.0/280 {
		t.Errorf("got %v; want every round together, %v", c.got, 3100.0/280)
	}
	if !c.spread || c.lo != 9 || c.hi != 12.5 {
		t.Errorf("rounds %v–%v (spread %v); want 9–12.5", c.lo, c.hi, c.spread)
	}
	if got := c.rounds(); got != "9.00–12.50" {
		t.Errorf("rounds() = %q", got)
	}
}

func TestCompareGivesNoRangeWithoutSharedRounds(t *testing.T) {
	ours := rowOf(measured(900), measured(1200), measured(1000))
	for name, other := range map[string]row{
		"measured once":       rowOf(measured(100)),
		"in different rounds": rowOf(measured(100), measured(100)),
	} {
		if c := compare("ours ÷ other", ours, other, rpsRatio); c.spread || c.rounds() != "" {
			t.Errorf("%s: got the range %q; want none", name, c.rounds())
		}
	}
}
