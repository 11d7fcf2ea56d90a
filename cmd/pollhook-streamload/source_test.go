package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSourceShow(t *testing.T) {
	s, err := newSchedule(2, 6, time.Second, 3*time.Second) // 3 items a step, phases 0 and 500 ms
	if err != nil {
		t.Fatal(err)
	}
	src := &source{sched: s, padding: padding(60), jobs: make([]sourceJob, 2)}
	for j := range src.jobs {
		src.jobs[j].served = make([]atomic.Int64, s.steps)
	}
	start := time.Unix(1_700_000_000, 0)
	items := func(d *document) []int {
		var doc struct {
			Items []struct {
				ID   int    `json:"id"`
				Name string `json:"name"`
				Pad  string `json:"pad"`
			} `json:"items"`
		}
		if err := json.Unmarshal(d.body, &doc); err != nil {
			t.Fatalf("%v: %s", err, d.body)
		}
		ids := []int{}
		for _, it := range doc.Items {
			ids = append(ids, it.ID)
		}
		return ids
	}

	// Before the start: empty documents, nothing shown.
	if got := items(src.show(0, start)); len(got) != 0 {
		t.Fatalf("before the start: items %v", got)
	}
	src.begin(start)
	// Job 1 at 1.6 s: steps 0 (0.5 s) and 1 (1.5 s) shown by this poll.
	at := start.Add(1600 * time.Millisecond)
	if got, want := items(src.show(1, at)), []int{1, 2, 3, 4, 5, 6}; !equalInts(got, want) {
		t.Errorf("job 1 at 1.6s: items %v, want %v", got, want)
	}
	if src.polled(1, 0) != at.UnixNano() || src.polled(1, 1) != at.UnixNano() || src.polled(1, 2) != 0 {
		t.Errorf("served %d %d %d, want %d %d 0", src.polled(1, 0), src.polled(1, 1), src.polled(1, 2), at.UnixNano(), at.UnixNano())
	}
	// A later poll does not move the times of steps already shown.
	later := start.Add(10 * time.Second)
	if got := items(src.show(1, later)); len(got) != 9 {
		t.Errorf("job 1 after the end: %d items, want 9", len(got))
	}
	if src.polled(1, 1) != at.UnixNano() || src.polled(1, 2) != later.UnixNano() {
		t.Errorf("served step 1 at %d, step 2 at %d", src.polled(1, 1), src.polled(1, 2))
	}
	if src.shownAll() {
		t.Error("shownAll before job 0 showed its last step")
	}
	src.show(0, later)
	if !src.shownAll() {
		t.Error("not shownAll after every job showed every step")
	}
	if src.polls(0) != 2 || src.polls(1) != 2 {
		t.Errorf("polls %d, %d; want 2, 2", src.polls(0), src.polls(1))
	}
	// Items are about the size asked for.
	d := src.show(0, later)
	if n := len(d.body) / 9; n < 55 || n > 65 {
		t.Errorf("%d bytes an item, want about 60", n)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSourceHTTP(t *testing.T) {
	s, err := newSchedule(1, 2, time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	src, err := startSource(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.begin(time.Now())

	resp, err := http.Get(src.jobURL(0))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"items":[{"id":1,"name":"item 1","pad":""},{"id":2,"name":"item 2","pad":""}]}`; string(body) != want || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("body %s (%s), want %s", body, resp.Header.Get("Content-Type"), want)
	}
	if resp, err := http.Get(src.url + "/jobs/1"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("job 1 of 1: %v %v, want 404", resp.StatusCode, err)
	}

	for _, body := range []string{`{"type":"item.created","data":{}}`, `{"events":[{"id":"evt_1"},{"id":"evt_2"},{"id":"evt_3"}]}`} {
		resp, err := http.Post(src.hookURL(), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("hook: status %d", resp.StatusCode)
		}
	}
	if src.webhooks.Load() != 4 || src.hooks.Load() != 2 {
		t.Errorf("%d webhook events in %d requests, want 4 in 2", src.webhooks.Load(), src.hooks.Load())
	}
}
