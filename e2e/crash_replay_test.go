package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestCrashReplay pins what the crash test's replay accepts and what it
// reports, so that TestCrashSafety cannot pass over a lost, reordered or
// re-identified event.
func TestCrashReplay(t *testing.T) {
	src := newCrashSource(1, 0, 0)
	a := src.data()["0"]
	src.step = 1
	src.write(0)
	b := src.data()["0"]
	src.step = 2
	src.write(0)
	c := src.data()["0"]
	initial := map[string]string{"0": a}

	ab, bc := updated(t, a, b), updated(t, b, c)
	ok := func(id, body string) delivery { return delivery{id: id, body: []byte(body), answered: http.StatusOK} }
	tests := []struct {
		name       string
		batched    bool
		got        []delivery
		want       string // the item's final value
		duplicates int
		problems   []string // substrings, one per problem, in order
	}{
		{name: "in order", got: []delivery{ok("e1", ab), ok("e2", bc)}, want: c},
		{name: "retried after 503 and a cut", want: c, got: []delivery{
			{id: "e1", body: []byte(ab), answered: http.StatusServiceUnavailable}, {id: "e1", body: []byte(ab)}, ok("e1", ab), ok("e2", bc),
		}},
		{name: "duplicate with the same id", got: []delivery{ok("e1", ab), ok("e1", ab), ok("e2", bc)}, want: c, duplicates: 1},
		{name: "lost", got: []delivery{ok("e2", bc)}, want: c, problems: []string{"but the last event left " + a + " (an event was lost"}},
		{name: "only refused", got: []delivery{{id: "e1", body: []byte(ab), answered: http.StatusServiceUnavailable}, ok("e2", bc)}, want: c,
			problems: []string{"but the last event left " + a}},
		{name: "reordered", got: []delivery{ok("e2", bc), ok("e1", ab)}, want: b, problems: []string{
			"request e2, event e2 item.updated key \"0\": before " + b + ", but the last event left " + a,
			"request e1, event e1 item.updated key \"0\": before " + a + ", but the last event left " + c,
		}},
		{name: "duplicated with different ids", got: []delivery{ok("e1", ab), ok("e9", ab), ok("e2", bc)}, want: c,
			problems: []string{"request e9, event e9 item.updated key \"0\": duplicated with different ids: the same change came in e1"}},
		{name: "created twice", got: []delivery{ok("e1", created(b))}, want: b,
			problems: []string{"created, but the item exists with " + a}},
		{name: "wrong patch", got: []delivery{ok("e1", strings.Replace(ab, `"op":"replace","path":"/v"`, `"op":"replace","path":"/id"`, 1))}, want: b,
			problems: []string{"patch ["}},
		{name: "a value the source never had", got: []delivery{ok("e1", updated(t, a, strings.Replace(b, `"v":1`, `"v":7`, 1)))},
			want: strings.Replace(b, `"v":1`, `"v":7`, 1), problems: []string{"that the source never had"}},
		{name: "batches", batched: true, got: []delivery{ok("b1", batch("e1", ab)), ok("b1", batch("e1", ab)), ok("b2", batch("e2", bc))}, want: c, duplicates: 1},
		{name: "a batch formed again under another id", batched: true, got: []delivery{ok("b1", batch("e1", ab)), ok("b2", batch("e1", ab, "e2", bc))}, want: c,
			problems: []string{"request b2, event e1 item.updated key \"0\": event delivered before under another webhook-id, b1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newCrashReceiver("r", tt.batched, 0, 1)
			r.got = tt.got
			res := r.replay(initial, src, crashJob, true)
			if want := map[string]string{"0": tt.want}; !maps.Equal(res.data, want) {
				t.Errorf("data:%s", dataDiff(res.data, want))
			}
			if res.duplicates != tt.duplicates {
				t.Errorf("%d duplicates, want %d", res.duplicates, tt.duplicates)
			}
			if len(res.problems) != len(tt.problems) {
				t.Fatalf("%d problems, want %d:%s", len(res.problems), len(tt.problems), listProblems(res.problems))
			}
			for i, p := range res.problems {
				if !strings.Contains(p, tt.problems[i]) {
					t.Errorf("problem %d = %s\nwant it to contain %s", i, p, tt.problems[i])
				}
			}
		})
	}
}

// updated renders the item.updated body from before to after, with the
// patches of the fields that differ (the item's fields are all scalars or
// objects replaced whole).
func updated(t *testing.T, before, after string) string {
	t.Helper()
	var b, a map[string]json.RawMessage
	if err := json.Unmarshal([]byte(before), &b); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(after), &a); err != nil {
		t.Fatal(err)
	}
	var patch []string
	merge := map[string]json.RawMessage{}
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if string(a[k]) != string(b[k]) {
			patch = append(patch, fmt.Sprintf(`{"op":"replace","path":"/%s","value":%s}`, k, a[k]))
			merge[k] = a[k]
		}
	}
	m, err := json.Marshal(merge)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"type":"item.updated","timestamp":"2026-01-02T03:04:05.000Z","data":{"job":"items","key":"0","before":%s,"after":%s,"patch":[%s],"merge_patch":%s}}`,
		before, after, strings.Join(patch, ","), m)
}

func created(after string) string {
	return fmt.Sprintf(`{"type":"item.created","timestamp":"2026-01-02T03:04:05.000Z","data":{"job":"items","key":"0","after":%s}}`, after)
}

// batch renders {"events":[…]} from pairs of event id and envelope.
func batch(idsAndBodies ...string) string {
	var evs []string
	for i := 0; i < len(idsAndBodies); i += 2 {
		evs = append(evs, fmt.Sprintf(`{"id":%q,%s`, idsAndBodies[i], idsAndBodies[i+1][1:]))
	}
	return `{"events":[` + strings.Join(evs, ",") + `]}`
}
