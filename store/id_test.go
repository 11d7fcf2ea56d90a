package store

import (
	"strings"
	"testing"
	"time"
)

func TestEncodeID(t *testing.T) {
	tests := []struct {
		ms   uint64
		hi   uint16
		lo   uint64
		want string
	}{
		{0, 0, 0, "evt_00000000000000000000000000"},
		{0, 0, 1, "evt_00000000000000000000000001"},
		{0, 0, 32, "evt_00000000000000000000000010"},
		{1<<48 - 1, 1<<16 - 1, 1<<64 - 1, "evt_7ZZZZZZZZZZZZZZZZZZZZZZZZZ"},
		// The ULID specification's example timestamp 1469918176385 is 01ARYZ6S41.
		{1469918176385, 0, 0, "evt_01ARYZ6S410000000000000000"},
		{0, 1, 0, "evt_0000000000000G000000000000"},
	}
	for _, tt := range tests {
		if got := encodeID(tt.ms, tt.hi, tt.lo); got != tt.want {
			t.Errorf("encodeID(%d, %d, %d) = %s, want %s", tt.ms, tt.hi, tt.lo, got, tt.want)
		}
	}
}

func TestIDsIncrease(t *testing.T) {
	g := newIDGen()
	g.random = func(b []byte) {
		for i := range b {
			b[i] = 0xff
		}
		// hi 0, lo all ones: the next increment carries into hi.
		b[0], b[1] = 0, 0
	}
	t0 := time.UnixMilli(1_800_000_000_000)
	steps := []struct {
		name string
		at   time.Time
		want string
	}{
		{"fresh millisecond", t0, "evt_01MCC5RM00000FZZZZZZZZZZZZ"},
		{"same millisecond counts up", t0.Add(500 * time.Microsecond), "evt_01MCC5RM00000G000000000000"},
		{"clock stepped back", t0.Add(-time.Second), "evt_01MCC5RM00000G000000000001"},
		{"next millisecond draws anew", t0.Add(time.Millisecond), "evt_01MCC5RM01000FZZZZZZZZZZZZ"},
	}
	prev := ""
	for _, s := range steps {
		got := g.next(s.at)
		if got != s.want || got <= prev {
			t.Errorf("%s: %s, want %s after %s", s.name, got, s.want, prev)
		}
		if !strings.HasPrefix(got, "evt_") || len(got) != 30 {
			t.Errorf("%s: %q is not evt_ + 26 chars", s.name, got)
		}
		prev = got
	}
}
