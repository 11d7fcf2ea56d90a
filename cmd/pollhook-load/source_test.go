package main

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRenderDocument(t *testing.T) {
	tests := []struct {
		version int64
		items   int
		want    string
	}{
		{0, 3, `{"items":[{"id":1,"name":"item 1","v":0},{"id":2,"name":"item 2","v":0},{"id":3,"name":"item 3","v":0}]}`},
		{1, 3, `{"items":[{"id":1,"name":"item 1","v":1},{"id":2,"name":"item 2","v":0},{"id":3,"name":"item 3","v":0}]}`},
		{5, 3, `{"items":[{"id":1,"name":"item 1","v":2},{"id":2,"name":"item 2","v":2},{"id":3,"name":"item 3","v":1}]}`},
		{7, 1, `{"items":[{"id":1,"name":"item 1","v":7}]}`},
	}
	for _, tt := range tests {
		if got := string(renderDocument(tt.version, tt.items)); got != tt.want {
			t.Errorf("renderDocument(%d, %d) = %s, want %s", tt.version, tt.items, got, tt.want)
		}
	}
}

// TestRenderDocumentChangesOneItem holds the promise the change rate rests
// on: each version differs from the one before in exactly one item.
func TestRenderDocumentChangesOneItem(t *testing.T) {
	type doc struct {
		Items []struct {
			ID int   `json:"id"`
			V  int64 `json:"v"`
		} `json:"items"`
	}
	for _, items := range []int{1, 3, 10} {
		var prev doc
		for v := int64(0); v <= 40; v++ {
			var d doc
			if err := json.Unmarshal(renderDocument(v, items), &d); err != nil {
				t.Fatalf("items %d, version %d: %v", items, v, err)
			}
			if len(d.Items) != items {
				t.Fatalf("items %d, version %d: %d items", items, v, len(d.Items))
			}
			if v > 0 {
				changed := 0
				for k := range d.Items {
					if d.Items[k].V != prev.Items[k].V {
						changed++
					}
				}
				if changed != 1 {
					t.Errorf("items %d: version %d changes %d items, want 1", items, v, changed)
				}
			}
			prev = d
		}
	}
}

func TestDocVersion(t *testing.T) {
	tests := []struct {
		i, n                 int
		elapsed, changeEvery time.Duration
		want                 int64
	}{
		{0, 4, 9 * time.Second, 10 * time.Second, 0},
		{0, 4, 10 * time.Second, 10 * time.Second, 1},
		{2, 4, 5 * time.Second, 10 * time.Second, 1},         // phase 5s
		{3, 4, 2499 * time.Millisecond, 10 * time.Second, 0}, // phase 7.5s
		{3, 4, 2500 * time.Millisecond, 10 * time.Second, 1},
		{3, 4, time.Hour, 0, 0}, // never changes
	}
	for _, tt := range tests {
		if got := docVersion(tt.i, tt.n, tt.elapsed, tt.changeEvery); got != tt.want {
			t.Errorf("docVersion(%d, %d, %s, %s) = %d, want %d", tt.i, tt.n, tt.elapsed, tt.changeEvery, got, tt.want)
		}
	}
}

func TestFleet(t *testing.T) {
	f, err := startFleet(3, 2, 2, 0, true, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !strings.HasPrefix(f.jobURL(1), f.sourceURLs[1]+"/jobs/1") || !strings.HasPrefix(f.jobURL(2), f.sourceURLs[0]) {
		t.Errorf("jobs not dealt round-robin: %s, %s with sources %v", f.jobURL(1), f.jobURL(2), f.sourceURLs)
	}
	client := &http.Client{}
	get := func(url, inm string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("ETag"), string(b)
	}

	code, etag, body := get(f.jobURL(1), "")
	if code != http.StatusOK || etag != `W/"v0"` || body != `{"items":[{"id":1,"name":"item 1","v":0},{"id":2,"name":"item 2","v":0}]}` {
		t.Errorf("first poll: %d, ETag %s, %s", code, etag, body)
	}
	if code, _, body := get(f.jobURL(1), `W/"v0"`); code != http.StatusNotModified || body != "" {
		t.Errorf("conditional poll: %d %q, want 304 without a body", code, body)
	}
	if code, _, _ := get(f.jobURL(1), `"v0"`); code != http.StatusNotModified {
		t.Errorf("conditional poll with the strong form: %d, want 304", code)
	}
	if code, _, _ := get(f.sourceURLs[0]+"/jobs/3", ""); code != http.StatusNotFound {
		t.Errorf("unknown job: %d, want 404", code)
	}
	if len(f.receiverURLs) != 2 || f.receiverURLs[0] == f.receiverURLs[1] {
		t.Fatalf("receivers %v, want two distinct", f.receiverURLs)
	}
	resp, err := client.Post(f.receiverURLs[1], "application/json", strings.NewReader(`{"type":"item.updated"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("receiver: %d, want 204", resp.StatusCode)
	}
	if got := []int64{f.perReceiver[0].Load(), f.perReceiver[1].Load(), f.latency.unknown.Load()}; !slices.Equal(got, []int64{0, 1, 1}) {
		t.Errorf("webhooks by receiver and undated = %v, want [0 1 1] (documents never change: no change to date)", got)
	}

	c := f.snapshot(true)
	if want := []int64{0, 3, 0}; !slices.Equal(c.Polls, want) {
		t.Errorf("polls %v, want %v", c.Polls, want)
	}
	if c.MaxGap[1] <= 0 || c.MaxGap[0] != 0 {
		t.Errorf("longest gaps %v: want one for job 1 only", c.MaxGap)
	}
	if again := f.snapshot(false); again.MaxGap[1] != 0 {
		t.Errorf("longest gap %s after a reset, want 0", again.MaxGap[1])
	}
	if got := []int64{f.polls.Load(), f.notModified.Load(), f.webhooks.Load()}; !slices.Equal(got, []int64{3, 2, 1}) {
		t.Errorf("polls, 304s, webhooks = %v, want [3 2 1]", got)
	}
	if f.sourceConns.opened.Load() < 1 || f.receiverConns.opened.Load() != 1 {
		t.Errorf("connections opened: sources %d, receiver %d", f.sourceConns.opened.Load(), f.receiverConns.opened.Load())
	}
}
