package scheduler

import (
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 15, 10, 2, 0, 0, time.UTC)
	tests := []struct {
		spec    string
		want    time.Time // the first activation after from
		wantErr string
	}{
		{spec: "*/5 * * * *", want: time.Date(2026, 1, 15, 10, 5, 0, 0, time.UTC)},
		{spec: "30 */5 * * * *", want: time.Date(2026, 1, 15, 10, 5, 30, 0, time.UTC)},
		{spec: "  0 12 * * MON-FRI  ", want: time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)},
		{spec: "@every 30s", want: from.Add(30 * time.Second)},
		{spec: "@every 1m30s", want: from.Add(90 * time.Second)},
		{spec: "@hourly", want: time.Date(2026, 1, 15, 11, 0, 0, 0, time.UTC)},
		{spec: "@daily", want: time.Date(2026, 1, 16, 0, 0, 0, 0, time.UTC)},
		{spec: "CRON_TZ=Europe/Berlin 0 9 * * *", want: time.Date(2026, 1, 16, 9, 0, 0, 0, berlin)},
		{spec: "TZ=Europe/Berlin 0 0 9 * * *", want: time.Date(2026, 1, 16, 9, 0, 0, 0, berlin)},

		{spec: "", wantErr: "empty schedule"},
		{spec: "   ", wantErr: "empty schedule"},
		{spec: "every 5m", wantErr: "expected 5 to 6 fields, found 2: [every 5m]"},
		{spec: "* * * *", wantErr: "expected 5 to 6 fields, found 4: [* * * *]"},
		{spec: "* * * * * * *", wantErr: "expected 5 to 6 fields, found 7: [* * * * * * *]"},
		{spec: "60 * * * *", wantErr: "end of range (60) above maximum (59): 60"},
		{spec: "0 25 * * *", wantErr: "end of range (25) above maximum (23): 25"},
		{spec: "@fortnightly", wantErr: "unrecognized descriptor: @fortnightly"},
		{spec: "@every", wantErr: "unrecognized descriptor: @every"},
		{spec: "@every 5x", wantErr: `failed to parse duration @every 5x: time: unknown unit "x" in duration "5x"`},
		{spec: "@every 500ms", wantErr: "@every 500ms: the interval must be a whole number of seconds, at least 1s"},
		{spec: "@every 1500ms", wantErr: "@every 1500ms: the interval must be a whole number of seconds, at least 1s"},
		{spec: "@every -5s", wantErr: "@every -5s: the interval must be a whole number of seconds, at least 1s"},
		{spec: "CRON_TZ=Mars/Olympus 0 9 * * *", wantErr: "provided bad location Mars/Olympus: unknown time zone Mars/Olympus"},
		{spec: "CRON_TZ=Europe/Berlin", wantErr: "CRON_TZ=Europe/Berlin is not followed by a schedule"},
		{spec: "TZ=UTC", wantErr: "TZ=UTC is not followed by a schedule"},
		{spec: "0 0 31 2 *", wantErr: "0 0 31 2 * never fires (no matching date)"},
		{spec: "CRON_TZ=UTC 0 0 30 2 *", wantErr: "CRON_TZ=UTC 0 0 30 2 * never fires (no matching date)"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			sched, err := ParseSchedule(tt.spec)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseSchedule(%q) error = %v, want %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSchedule(%q): %v", tt.spec, err)
			}
			if got := sched.Next(from); !got.Equal(tt.want) {
				t.Errorf("Next(%v) = %v, want %v", from, got, tt.want)
			}
		})
	}
}

// TestInterval: a job's interval is the time between the two firings
// that follow, which for an irregular cron depends on when it is asked.
func TestInterval(t *testing.T) {
	from := time.Date(2026, 1, 15, 10, 2, 0, 0, time.UTC)
	tests := []struct {
		spec string
		from time.Time
		want time.Duration
	}{
		{"@every 30s", from, 30 * time.Second},
		{"@every 1h30m", from, 90 * time.Minute},
		{"*/5 * * * *", from, 5 * time.Minute},
		{"*/10 * * * * *", from, 10 * time.Second},
		{"@hourly", from, time.Hour},
		{"@daily", from, 24 * time.Hour},
		{"0 9,17 * * *", from, 16 * time.Hour},                   // 17:00, then 9:00 the next day
		{"0 9,17 * * *", from.Add(8 * time.Hour), 8 * time.Hour}, // 9:00, then 17:00
		{"CRON_TZ=Europe/Berlin 0 2 * * *", time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), 24 * time.Hour}, // 2:00 on the 29th is skipped by the clock change
		{"0 0 29 2 *", from, 1461 * 24 * time.Hour},                                                        // 29 February 2028, then 2032
	}
	for _, tt := range tests {
		sched, err := ParseSchedule(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := Interval(sched, tt.from); got != tt.want {
			t.Errorf("Interval(%q, %s) = %s, want %s", tt.spec, tt.from.Format(time.RFC3339), got, tt.want)
		}
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"*/5 * * * *", "30 */5 * * * *", "@every 30s", "@hourly", "CRON_TZ=Europe/Berlin 0 9 * * *", "TZ=UTC", "1-5/2 * * JAN-MAR ?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		// Config validation feeds user text straight in: it must never panic.
		ParseSchedule(spec)
	})
}
