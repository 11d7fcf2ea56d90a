package main

import (
	"reflect"
	"testing"
	"time"
)

func TestNewScheduleErrors(t *testing.T) {
	tests := []struct {
		name       string
		jobs, rate int
		every, dur time.Duration
		err        string
	}{
		{"no jobs", 0, 100, time.Second, time.Minute, "jobs and rate must be at least 1"},
		{"no rate", 1, 0, time.Second, time.Minute, "jobs and rate must be at least 1"},
		{"period over duration", 1, 10, 2 * time.Second, time.Second, "the change period (2s) must be positive and at most the duration (1s)"},
		{"fractional events", 1, 3, 500 * time.Millisecond, time.Minute, "3 events/s over 500ms is 1.5 events per period: want a whole number, at least one per job (1)"},
		{"fewer events than jobs", 20, 10, time.Second, time.Minute, "10 events/s over 1s is 10 events per period: want a whole number, at least one per job (20)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newSchedule(tt.jobs, tt.rate, tt.every, tt.dur)
			if errString(err) != tt.err {
				t.Fatalf("error %q, want %q", errString(err), tt.err)
			}
		})
	}
}

func TestSchedulePlan(t *testing.T) {
	s, err := newSchedule(7, 100, time.Second, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{15, 15, 14, 14, 14, 14, 14}; !reflect.DeepEqual(s.perStep, want) {
		t.Errorf("per step %v, want %v", s.perStep, want)
	}
	if want := []int{0, 900, 1800, 2640, 3480, 4320, 5160}; !reflect.DeepEqual(s.offset, want) {
		t.Errorf("offsets %v, want %v", s.offset, want)
	}
	if s.total != 6000 || s.steps != 60 || s.rate() != 100 {
		t.Errorf("total %d, steps %d, rate %g; want 6000, 60, 100", s.total, s.steps, s.rate())
	}
	if s.names[0] != "stream-0" || s.names[6] != "stream-6" {
		t.Errorf("names %v", s.names)
	}
	// Job 6's phase is 6/7 s; its last step is the 60th, 59 periods later.
	if want := 6*time.Second/7 + 59*time.Second; s.length() != want {
		t.Errorf("length %s, want %s", s.length(), want)
	}
}

func TestScheduleSteps(t *testing.T) {
	s, err := newSchedule(4, 20, time.Second, 3*time.Second) // 5 items a step, phases 0, 250, 500, 750 ms
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		job     int
		elapsed time.Duration
		steps   int
	}{
		{0, -time.Nanosecond, 0},
		{0, 0, 1},
		{0, 999 * time.Millisecond, 1},
		{0, time.Second, 2},
		{0, 2 * time.Second, 3},
		{0, time.Hour, 3}, // the schedule has ended: no more steps
		{1, 249 * time.Millisecond, 0},
		{1, 250 * time.Millisecond, 1},
		{3, 2750*time.Millisecond - 1, 2},
		{3, 2750 * time.Millisecond, 3},
	}
	for _, tt := range tests {
		if got := s.stepsAt(tt.job, tt.elapsed); got != tt.steps {
			t.Errorf("stepsAt(%d, %s) = %d, want %d", tt.job, tt.elapsed, got, tt.steps)
		}
		if got := s.itemsAt(tt.job, tt.elapsed); got != 5*tt.steps {
			t.Errorf("itemsAt(%d, %s) = %d, want %d", tt.job, tt.elapsed, got, 5*tt.steps)
		}
	}
	// Items 1-5 come with step 0, 6-10 with step 1.
	for _, c := range []struct {
		job, id, step int
		at            time.Duration
	}{
		{0, 1, 0, 0}, {0, 5, 0, 0}, {0, 6, 1, time.Second}, {2, 15, 2, 2500 * time.Millisecond},
	} {
		if got := s.stepOf(c.job, c.id); got != c.step {
			t.Errorf("stepOf(%d, %d) = %d, want %d", c.job, c.id, got, c.step)
		}
		if got := s.changeAt(c.job, c.id); got != c.at {
			t.Errorf("changeAt(%d, %d) = %s, want %s", c.job, c.id, got, c.at)
		}
	}
	// The last item of a job is visible at the time its step comes.
	if s.itemsAt(2, s.changeAt(2, 15)) < 15 || s.itemsAt(2, s.changeAt(2, 15)-1) >= 15 {
		t.Error("item 15 of job 2 not visible exactly from its change time")
	}
}

func TestScheduleEvent(t *testing.T) {
	s, err := newSchedule(3, 6, time.Second, 2*time.Second) // 2 items a step, 4 per job
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		job, key     string
		index, j, id int
		ok           bool
	}{
		{"stream-0", "1", 0, 0, 1, true},
		{"stream-0", "4", 3, 0, 4, true},
		{"stream-1", "1", 4, 1, 1, true},
		{"stream-2", "4", 11, 2, 4, true},
		{"stream-2", "5", 0, 0, 0, false},  // beyond the schedule
		{"stream-2", "0", 0, 0, 0, false},  // ids start at 1
		{"stream-2", "04", 0, 0, 0, false}, // not how the source writes it
		{"stream-3", "1", 0, 0, 0, false},  // no such job
		{"stream-1", "x", 0, 0, 0, false},
	}
	for _, tt := range tests {
		index, j, id, ok := s.event(tt.job, tt.key)
		if index != tt.index || j != tt.j || id != tt.id || ok != tt.ok {
			t.Errorf("event(%q, %q) = %d, %d, %d, %t; want %d, %d, %d, %t", tt.job, tt.key, index, j, id, ok, tt.index, tt.j, tt.id, tt.ok)
		}
	}
}
