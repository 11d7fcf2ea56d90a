package loadkit

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestGoals(t *testing.T) {
	var g Goals
	if !g.Met() {
		t.Error("no goals: not met")
	}
	g.Add("peak RSS", true, "%.1f MB, goal below %g MB", 27.54, 200.0)
	g.Add("clean exit", false, "exit code %d", -1)
	if g.Met() {
		t.Error("a goal missed, yet met")
	}
	var b bytes.Buffer
	g.Print(&b)
	if want := "goal: peak RSS\tok: 27.5 MB, goal below 200 MB\ngoal: clean exit\tMISSED: exit code -1\n"; b.String() != want {
		t.Errorf("printed %q, want %q", b.String(), want)
	}
	j, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"name":"peak RSS","ok":true,"detail":"27.5 MB, goal below 200 MB"},{"name":"clean exit","ok":false,"detail":"exit code -1"}]`; string(j) != want {
		t.Errorf("JSON %s, want %s", j, want)
	}
}

func TestNoteOtherCores(t *testing.T) {
	for _, tt := range []struct {
		cores float64
		want  string
	}{
		{0.2, ""},
		{0.36, "NOTE\tother processes used 0.36 cores during the window: the figures are not those of a quiet machine\n"},
	} {
		var b bytes.Buffer
		NoteOtherCores(&b, tt.cores)
		if b.String() != tt.want {
			t.Errorf("%g cores: %q, want %q", tt.cores, b.String(), tt.want)
		}
	}
}

func TestLogCounts(t *testing.T) {
	if got := LogCounts(nil); got != "no warnings or errors" {
		t.Errorf("none: %q", got)
	}
	got := LogCounts(map[string]int{"WARN: slow": 2, "ERROR: broken": 1, "OUTPUT: panic: boom": 1})
	if want := "1 × ERROR: broken; 1 × OUTPUT: panic: boom; 2 × WARN: slow"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
