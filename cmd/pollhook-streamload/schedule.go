package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// schedule is the source's plan of changes, fixed before the run starts,
// so that the tool knows every event pollhook must emit: job j's document
// starts empty and, at each of its steps, gains perStep[j] new items with
// the next ids (1, 2, 3, ...). Items are never changed or removed, so
// every item is exactly one item.created event however pollhook's polls
// fall between the steps (a late poll sees two steps at once, a failed one
// leaves them to the next).
//
// Step s of job j comes at start + phase(j) + s*every, for s in
// [0, steps); the phases spread the jobs evenly over one period so that
// the aggregate rate is steady rather than a burst per period.
type schedule struct {
	jobs    int
	every   time.Duration // time between two steps of one job
	steps   int           // steps of each job
	perStep []int         // items each step of job j adds
	offset  []int         // index of job j's first event among all events
	total   int           // events of the whole run
	names   []string
	byName  map[string]int
}

// newSchedule plans rate events per second in aggregate over jobs jobs
// for duration: every period the jobs add rate*every items between them,
// as evenly as whole items allow (the first ones take one more).
func newSchedule(jobs, rate int, every, duration time.Duration) (*schedule, error) {
	if jobs < 1 || rate < 1 {
		return nil, errors.New("jobs and rate must be at least 1")
	}
	if every <= 0 || duration < every {
		return nil, fmt.Errorf("the change period (%s) must be positive and at most the duration (%s)", every, duration)
	}
	perPeriod := float64(rate) * every.Seconds()
	if perPeriod != float64(int(perPeriod)) || int(perPeriod) < jobs {
		return nil, fmt.Errorf("%d events/s over %s is %g events per period: want a whole number, at least one per job (%d)", rate, every, perPeriod, jobs)
	}
	n := int(perPeriod)
	s := &schedule{
		jobs: jobs, every: every, steps: int(duration / every),
		perStep: make([]int, jobs), offset: make([]int, jobs),
		names: make([]string, jobs), byName: make(map[string]int, jobs),
	}
	width := len(strconv.Itoa(jobs - 1))
	for j := range jobs {
		s.perStep[j] = n / jobs
		if j < n%jobs {
			s.perStep[j]++
		}
		s.offset[j] = s.total
		s.total += s.perStep[j] * s.steps
		s.names[j] = fmt.Sprintf("stream-%0*d", width, j)
		s.byName[s.names[j]] = j
	}
	return s, nil
}

// rate is the aggregate events per second.
func (s *schedule) rate() float64 {
	n := 0
	for _, k := range s.perStep {
		n += k
	}
	return float64(n) / s.every.Seconds()
}

// length is the time from the start to the last step of the last job,
// plus nothing: after it no document changes.
func (s *schedule) length() time.Duration {
	return s.phase(s.jobs-1) + time.Duration(s.steps-1)*s.every
}

// phase is job j's offset within a period.
func (s *schedule) phase(j int) time.Duration {
	return time.Duration(int64(s.every) * int64(j) / int64(s.jobs))
}

// stepsAt is how many of job j's steps have happened elapsed after the
// start (negative: before it).
func (s *schedule) stepsAt(j int, elapsed time.Duration) int {
	since := elapsed - s.phase(j)
	if since < 0 {
		return 0
	}
	return min(s.steps, int(since/s.every)+1)
}

// itemsAt is how many items job j's document holds elapsed after the start.
func (s *schedule) itemsAt(j int, elapsed time.Duration) int {
	return s.stepsAt(j, elapsed) * s.perStep[j]
}

// stepOf is the step that added item id (1-based) of job j.
func (s *schedule) stepOf(j, id int) int {
	return (id - 1) / s.perStep[j]
}

// changeAt is when, after the start, item id of job j appeared.
func (s *schedule) changeAt(j, id int) time.Duration {
	return s.phase(j) + time.Duration(s.stepOf(j, id))*s.every
}

// event finds the event of job name's item key: its index among all the
// run's events, the job's number and the item's id; ok is false for an
// event the schedule never made.
func (s *schedule) event(name, key string) (index, job, id int, ok bool) {
	j, found := s.byName[name]
	if !found {
		return 0, 0, 0, false
	}
	id, err := strconv.Atoi(key)
	if err != nil || id < 1 || id > s.perStep[j]*s.steps || strconv.Itoa(id) != key {
		return 0, 0, 0, false
	}
	return s.offset[j] + id - 1, j, id, true
}
