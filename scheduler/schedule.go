package scheduler

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts 5-field cron, an optional leading seconds field, descriptors
// such as @hourly and @every 30s, and a CRON_TZ= or TZ= prefix.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a job schedule.
func ParseSchedule(spec string) (cron.Schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	rest := spec
	if strings.HasPrefix(rest, "TZ=") || strings.HasPrefix(rest, "CRON_TZ=") {
		// cron v3.0.1 slices out of range (panics) on a zone with nothing after it.
		zone, after, ok := strings.Cut(rest, " ")
		if !ok {
			return nil, fmt.Errorf("%s is not followed by a schedule", zone)
		}
		rest = strings.TrimSpace(after)
	}
	if d, ok := strings.CutPrefix(rest, "@every "); ok {
		// cron silently turns "@every 500ms" into 1s and "@every 1.5s" into 1s:
		// say so instead of polling at a rate nobody wrote.
		if every, err := time.ParseDuration(strings.TrimSpace(d)); err == nil && (every < time.Second || every%time.Second != 0) {
			return nil, fmt.Errorf("@every %s: the interval must be a whole number of seconds, at least 1s", strings.TrimSpace(d))
		}
	}
	sched, err := parser.Parse(spec)
	if err != nil {
		return nil, err
	}
	// cron accepts dates that never come, such as 31 February; its Next
	// then gives the zero time and the job would silently never run.
	if sched.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("%s never fires (no matching date)", spec)
	}
	return sched, nil
}

// Interval returns the time between the first two firings of sched after
// from: a job's interval. It is the same at any time for @every and for
// regular cron expressions; for an irregular one (0 9,17 * * *) it is the
// interval coming next. It is 0 when sched does not fire twice.
func Interval(sched cron.Schedule, from time.Time) time.Duration {
	first := sched.Next(from)
	if first.IsZero() {
		return 0
	}
	second := sched.Next(first)
	if second.IsZero() {
		return 0
	}
	return second.Sub(first)
}
