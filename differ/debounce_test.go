package differ

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// summary renders a change as "type key before -> after", leaving out
// what is empty.
func summary(c Change) string {
	return strings.Join(strings.Fields(fmt.Sprintf("%s %s %s -> %s", c.Type, c.Key, c.Before, c.After)), " ")
}

// TestDebounce diffs sequences of polls (the first one the baseline) and
// pins the changes of every poll after it. Each sequence runs twice: once
// keeping Result.Next between polls, once restarting before every poll
// from what the store holds (Load of the snapshot and deltas), so the
// pending changes must survive their stored form.
func TestDebounce(t *testing.T) {
	keyed := Spec{Items: "$", Key: []string{"id"}, Debounce: 3}
	tests := []struct {
		name  string
		spec  Spec
		polls []string
		want  [][]string // per poll after the first
	}{
		{
			name:  "flip and back within the window",
			spec:  keyed,
			polls: []string{`[{"id":1,"v":"a"}]`, `[{"id":1,"v":"b"}]`, `[{"id":1,"v":"b"}]`, `[{"id":1,"v":"a"}]`, `[{"id":1,"v":"a"}]`},
			want:  [][]string{nil, nil, nil, nil},
		},
		{
			name: "held for N polls, emitted once against the original",
			spec: keyed,
			polls: []string{`[{"id":1,"v":"a"},{"id":2,"v":"x"}]`, `[{"id":1,"v":"b"},{"id":2,"v":"x"}]`,
				`[{"id":1,"v":"b"},{"id":2,"v":"x"}]`, `[{"id":1,"v":"b"},{"id":2,"v":"x"}]`, `[{"id":1,"v":"b"},{"id":2,"v":"x"}]`},
			want: [][]string{nil, nil, {`item.updated 1 {"id":1,"v":"a"} -> {"id":1,"v":"b"}`}, nil},
		},
		{
			name:  "the very same body counts too",
			spec:  Spec{Items: "$", Key: []string{"id"}, Debounce: 2},
			polls: []string{`[{"id":1,"v":"a"}]`, `[{"id":1,"v":"b"}]`, `[{"id":1,"v":"b"}]`},
			want:  [][]string{nil, {`item.updated 1 {"id":1,"v":"a"} -> {"id":1,"v":"b"}`}},
		},
		{
			name: "a third value restarts the count",
			spec: keyed,
			polls: []string{`[{"id":1,"v":"a"}]`, `[{"id":1,"v":"b"}]`, `[{"id":1,"v":"b"}]`, `[{"id":1,"v":"c"}]`,
				`[{"id":1,"v":"c"}]`, `[{"id":1,"v":"c"}]`},
			want: [][]string{nil, nil, nil, nil, {`item.updated 1 {"id":1,"v":"a"} -> {"id":1,"v":"c"}`}},
		},
		{
			name: "creation and deletion debounced",
			spec: Spec{Items: "$", Key: []string{"id"}, Debounce: 2},
			polls: []string{`[{"id":1},{"id":2}]`, `[{"id":1},{"id":3}]`, `[{"id":3},{"id":1}]`,
				`[{"id":1},{"id":4}]`, `[{"id":1},{"id":3}]`, `[{"id":1}]`, `[{"id":1}]`},
			want: [][]string{
				nil,
				{`item.created 3 -> {"id":3}`, `item.deleted 2 {"id":2} ->`},
				nil, // 3 gone once, 4 new once
				nil, // 3 back, 4 gone: nothing confirmed
				nil,
				{`item.deleted 3 {"id":3} ->`},
			},
		},
		{
			name:  "items without a key",
			spec:  Spec{Items: "$", Debounce: 2},
			polls: []string{`[1,2]`, `[1,3]`, `[1,2]`, `[1,3]`, `[1,3]`},
			want:  [][]string{nil, nil, nil, {`item.created 4e07408562bedb8b -> 3`, `item.deleted d4735e3a265e16ee 2 ->`}},
		},
		{
			name:  "document mode",
			spec:  Spec{Debounce: 2},
			polls: []string{`{"v":1}`, `{"v":2}`, `{"v":1}`, `{"v":3}`, `{"v":3}`, `{"v":3}`},
			want:  [][]string{nil, nil, nil, {`document.changed {"v":1} -> {"v":3}`}, nil},
		},
		{
			name:  "debounce 1 is at once",
			spec:  Spec{Items: "$", Key: []string{"id"}, Debounce: 1},
			polls: []string{`[{"id":1,"v":"a"}]`, `[{"id":1,"v":"b"}]`, `[{"id":1,"v":"a"}]`, `[]`},
			want: [][]string{{`item.updated 1 {"id":1,"v":"a"} -> {"id":1,"v":"b"}`},
				{`item.updated 1 {"id":1,"v":"b"} -> {"id":1,"v":"a"}`}, {`item.deleted 1 {"id":1,"v":"a"} ->`}},
		},
	}
	for _, tt := range tests {
		for _, restart := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/restart=%v", tt.name, restart), func(t *testing.T) {
				d, err := Compile(tt.spec)
				if err != nil {
					t.Fatal(err)
				}
				s := newStored(t, d)
				s.diff(tt.polls[0])
				for k, body := range tt.polls[1:] {
					if restart {
						if s.state, err = Load(s.base, s.deltas); err != nil {
							t.Fatal(err)
						}
					}
					res := s.diff(body)
					var got []string
					for _, c := range res.Changes {
						got = append(got, summary(c))
					}
					if !slices.Equal(got, tt.want[k]) {
						t.Errorf("poll %d (%s): changes %q, want %q", k+1, body, got, tt.want[k])
					}
				}
			})
		}
	}
}

// TestDebounceStoredForm pins what a pending change costs in the store:
// nothing without one (version 1, as before debounce existed), the
// pending set after the data otherwise, and a config change drops it.
func TestDebounceStoredForm(t *testing.T) {
	spec := Spec{Items: "$", Key: []string{"id"}, Debounce: 2}
	d, first := compileAfter(t, spec, `[{"id":1,"v":"a"}]`)
	if first.Snapshot()[0] != formatVersion {
		t.Errorf("snapshot without pending changes has version %d", first.Snapshot()[0])
	}
	res := mustDiff(t, d, first, `[{"id":1,"v":"b"}]`)
	stored := res.Snapshot // this small a state is stored in full
	if stored == nil || stored[0] != pendingVersion || len(res.Changes) != 0 {
		t.Fatalf("pending poll: snapshot %q, changes %v", stored, res.Changes)
	}
	if want := (pendingSet{"1": {polls: 1, hash: sha256.Sum256([]byte(`{"id":1,"v":"b"}`))}}); !maps.Equal(res.Next.pending, want) {
		t.Errorf("pending %v, want %v", res.Next.pending, want)
	}
	if res.Next.body != ([32]byte{}) {
		t.Error("a state with pending changes keeps the body hash: the same body would not be parsed again")
	}
	loaded, err := Load(res.Next.Snapshot(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := sameState(loaded, res.Next); diff != "" {
		t.Errorf("Snapshot round trip: %s", diff)
	}
	// Another ignore list: a new baseline, nothing pending, nothing emitted.
	spec.Ignore = []string{"w"}
	d2, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	re := mustDiff(t, d2, loaded, `[{"id":1,"v":"b"}]`)
	if !re.Baseline || len(re.Changes) != 0 || re.Next.pending != nil {
		t.Errorf("after a config change: baseline %v, changes %v, pending %v", re.Baseline, re.Changes, re.Next.pending)
	}
}

func TestDecodePendingErrors(t *testing.T) {
	good := pendingSet{"k": {polls: 2, gone: true}}.encode()
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "snapshot: truncated pending changes"},
		{"count too large", []byte{9, 0, 0, 0}, "snapshot: 9 pending changes do not fit 0 bytes"},
		{"key too long", append([]byte{1, 0, 0, 0, 99, 0, 0, 0}, make([]byte, 37)...), "snapshot: truncated pending changes"},
		{"trailing bytes", append(slices.Clone(good), 0), "snapshot: 1 unexpected bytes after the pending changes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodePending(tt.b); err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	if ps, err := decodePending(good); err != nil || ps["k"] != (pendingChange{polls: 2, gone: true}) || len(ps) != 1 {
		t.Errorf("round trip: %v, %v", ps, err)
	}
}

// TestDebounceDeltas runs a pending change through deltas (a state large
// enough that one changed item is stored as a delta) and restarts from the
// store between polls.
func TestDebounceDeltas(t *testing.T) {
	list := func(v string) string {
		var b strings.Builder
		b.WriteString(`[{"id":0,"v":"` + v + `"}`)
		for i := 1; i < 50; i++ {
			fmt.Fprintf(&b, `,{"id":%d,"v":"some longer unchanged value"}`, i)
		}
		return b.String() + "]"
	}
	d, err := Compile(Spec{Items: "$", Key: []string{"id"}, Debounce: 3})
	if err != nil {
		t.Fatal(err)
	}
	s := newStored(t, d)
	s.diff(list("a"))
	for k, v := range []string{"b", "b", "b"} {
		if s.state, err = Load(s.base, s.deltas); err != nil {
			t.Fatal(err)
		}
		res := s.diff(list(v))
		if res.Delta == nil {
			t.Fatalf("poll %d stored a full snapshot, want a delta", k+1)
		}
		var got []string
		for _, c := range res.Changes {
			got = append(got, summary(c))
		}
		want := []string(nil)
		if k == 2 {
			want = []string{`item.updated 0 {"id":0,"v":"a"} -> {"id":0,"v":"b"}`}
		}
		if !slices.Equal(got, want) || (res.Delta[0] == pendingVersion) != (k < 2) {
			t.Errorf("poll %d: changes %q (want %q), delta version %d", k+1, got, want, res.Delta[0])
		}
	}
}
