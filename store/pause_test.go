package store

import (
	"testing"
	"time"
)

func TestPauseSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, Options{SyncWrites: true})
	at := time.Date(2026, 11, 27, 21, 0, 0, 0, time.FixedZone("CET", 3600))
	gone := Pause{Destination: "hook", At: at, Job: "orders", EventID: "evt_1", Status: 410, Reason: "410 Gone: unsubscribed"}
	for _, p := range []Pause{gone, {Destination: "audit"}} {
		if err := b.PauseDestination(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir, Options{SyncWrites: true})
	gone.At = at.UTC()
	want := []Pause{{Destination: "audit", At: testNow}, gone}
	if got, err := b.Paused(); err != nil || !equalJSON(got, want) {
		t.Fatalf("Paused after reopening = %+v, %v\nwant %+v", got, err, want)
	}
	tests := []struct {
		dest string
		was  bool
		left []Pause
	}{
		{"hook", true, want[:1]},
		{"hook", false, want[:1]},
		{"audit", true, nil},
	}
	for _, tt := range tests {
		if was, err := b.ResumeDestination(tt.dest); err != nil || was != tt.was {
			t.Errorf("ResumeDestination(%s) = %v, %v; want %v", tt.dest, was, err, tt.was)
		}
		if got, err := b.Paused(); err != nil || !equalJSON(got, tt.left) {
			t.Errorf("after resuming %s: Paused = %+v, %v; want %+v", tt.dest, got, err, tt.left)
		}
	}
	if err := b.PauseDestination(Pause{}); err == nil || err.Error() != "store: empty destination name" {
		t.Errorf("pausing a nameless destination = %v", err)
	}
}
