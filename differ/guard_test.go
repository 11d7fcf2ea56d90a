package differ

import (
	"strings"
	"testing"
)

// TestGuard runs sequences of polls through a guarded job whose baseline
// has the four items 1..4 and checks every step.
func TestGuard(t *testing.T) {
	const all = `[{"id":1},{"id":2},{"id":3},{"id":4}]`
	type step struct {
		body      string
		held      bool
		heldPolls int    // HeldPolls of the resulting snapshot
		changes   string // changeList of the result
		items     string // keys in the resulting snapshot
	}
	tests := []struct {
		name    string
		ratio   float64
		confirm int
		steps   []step
		changed float64 // Guard.MaxChangedRatio
	}{
		{"held until confirmed", 0.5, 3, []step{
			{body: `[{"id":1}]`, held: true, heldPolls: 1, items: "1 2 3 4"},
			{body: ` [ {"id":1.0} ] `, held: true, heldPolls: 2, items: "1 2 3 4"}, // same candidate, spelled otherwise
			{body: `[{"id":1}]`, changes: "item.deleted 2, item.deleted 3, item.deleted 4", items: "1"},
			{body: `[{"id":1}]`, items: "1"},
		}, 0},
		{"empty array held, then confirmed", 0.5, 2, []step{
			{body: `[]`, held: true, heldPolls: 1, items: "1 2 3 4"},
			{body: `[]`, changes: "item.deleted 1, item.deleted 2, item.deleted 3, item.deleted 4", items: ""},
			{body: all, changes: "item.created 1, item.created 2, item.created 3, item.created 4", items: "1 2 3 4"},
		}, 0},
		{"changes applied against the items before the hold", 0.5, 2, []step{
			{body: `[{"id":1,"v":2},{"id":5}]`, held: true, heldPolls: 1, items: "1 2 3 4"},
			{body: `[{"id":5},{"id":1,"v":2}]`, changes: "item.created 5, item.updated 1, item.deleted 2, item.deleted 3, item.deleted 4", items: "5 1"},
		}, 0},
		{"a different candidate resets the count", 0.5, 3, []step{
			{body: `[]`, held: true, heldPolls: 1, items: "1 2 3 4"},
			{body: `[]`, held: true, heldPolls: 2, items: "1 2 3 4"},
			{body: `[{"id":2}]`, held: true, heldPolls: 1, items: "1 2 3 4"},
			{body: `[{"id":2}]`, held: true, heldPolls: 2, items: "1 2 3 4"},
			{body: `[{"id":2}]`, changes: "item.deleted 1, item.deleted 3, item.deleted 4", items: "2"},
		}, 0},
		{"a normal response clears the hold", 0.5, 3, []step{
			{body: `[]`, held: true, heldPolls: 1, items: "1 2 3 4"},
			{body: `[]`, held: true, heldPolls: 2, items: "1 2 3 4"},
			{body: `[{"id":1},{"id":2},{"id":3}]`, changes: "item.deleted 4", items: "1 2 3"},
			{body: `[]`, held: true, heldPolls: 1, items: "1 2 3"},
		}, 0},
		{"the unchanged body clears the hold", 0.5, 3, []step{
			{body: `[]`, held: true, heldPolls: 1, items: "1 2 3 4"},
			{body: all, items: "1 2 3 4"}, // the very bytes of the baseline
			{body: `[]`, held: true, heldPolls: 1, items: "1 2 3 4"},
		}, 0},
		{"exactly the ratio passes", 0.5, 3, []step{
			{body: `[{"id":1},{"id":2}]`, changes: "item.deleted 3, item.deleted 4", items: "1 2"},
		}, 0},
		{"updates and creations alone never trip it", 0.1, 3, []step{
			{body: `[{"id":1,"v":1},{"id":2},{"id":3},{"id":4},{"id":5}]`, changes: "item.updated 1, item.created 5", items: "1 2 3 4 5"},
		}, 0},
		{"one confirming poll applies at once", 0.5, 1, []step{
			{body: `[]`, changes: "item.deleted 1, item.deleted 2, item.deleted 3, item.deleted 4", items: ""},
		}, 0},
		{"off", 0, 0, []step{
			{body: `[]`, changes: "item.deleted 1, item.deleted 2, item.deleted 3, item.deleted 4", items: ""},
		}, 0},
		{"mass update held until confirmed", 0, 2, []step{
			{body: `[{"id":1,"v":1},{"id":2,"v":1},{"id":3,"v":1},{"id":4}]`, held: true, heldPolls: 1, items: "1 2 3 4"},
			{body: `[{"id":1,"v":1},{"id":2,"v":1},{"id":3,"v":1},{"id":4}]`, changes: "item.updated 1, item.updated 2, item.updated 3", items: "1 2 3 4"},
		}, 0.5},
		{"creations count towards max_changed_ratio", 0, 2, []step{
			{body: `[{"id":1},{"id":2},{"id":3},{"id":4},{"id":5},{"id":6},{"id":7}]`, held: true, heldPolls: 1, items: "1 2 3 4"},
			{body: `[{"id":1},{"id":2},{"id":3},{"id":4},{"id":5},{"id":6},{"id":7}]`, changes: "item.created 5, item.created 6, item.created 7", items: "1 2 3 4 5 6 7"},
		}, 0.5},
		{"changes within max_changed_ratio pass", 0, 3, []step{
			{body: `[{"id":1,"v":1},{"id":2,"v":1},{"id":3},{"id":4}]`, changes: "item.updated 1, item.updated 2", items: "1 2 3 4"},
		}, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Compile(Spec{Items: "$", Key: []string{"id"}, Guard: Guard{MaxDeletedRatio: tt.ratio, ConfirmPolls: tt.confirm, MaxChangedRatio: tt.changed}})
			if err != nil {
				t.Fatal(err)
			}
			st := newStored(t, d)
			st.diff(all)
			for i, s := range tt.steps {
				res := st.diff(s.body)
				snap := res.Next
				if res.Held != s.held {
					t.Errorf("step %d: Held = %v, want %v", i, res.Held, s.held)
				}
				if got := changeList(res.Changes); got != s.changes {
					t.Errorf("step %d: changes = %q, want %q", i, got, s.changes)
				}
				if polls := snap.HeldPolls(); polls != s.heldPolls {
					t.Errorf("step %d: HeldPolls = %d, want %d", i, polls, s.heldPolls)
				}
				if got := itemKeys(t, snap); got != s.items {
					t.Errorf("step %d: snapshot items %q, want %q", i, got, s.items)
				}
			}
		})
	}
}

// TestGuardKeyless checks that vanished items count by content when items
// have no key.
func TestGuardKeyless(t *testing.T) {
	d, err := Compile(Spec{Items: "$", Guard: Guard{MaxDeletedRatio: 0.5, ConfirmPolls: 2}})
	if err != nil {
		t.Fatal(err)
	}
	st := newStored(t, d)
	st.diff(`["a","a","b"]`)
	res := st.diff(`["a"]`)
	if !res.Held || res.Changes != nil {
		t.Fatalf("first poll with 2 of 3 items gone: Held = %v, changes %q; want held", res.Held, changeList(res.Changes))
	}
	res = st.diff(`["a"]`)
	if res.Held || len(res.Changes) != 2 || res.Changes[0].Type != TypeItemDeleted || string(res.Changes[0].Before) != `"a"` || string(res.Changes[1].Before) != `"b"` {
		t.Errorf("confirming poll: Held = %v, changes %q", res.Held, changeList(res.Changes))
	}
}

func itemKeys(t *testing.T, snap *State) string {
	t.Helper()
	items, err := snap.Items()
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	return strings.Join(keys, " ")
}
