package differ

import (
	"bytes"
	"slices"
	"testing"
)

func TestSnapshotAccessors(t *testing.T) {
	d, err := Compile(Spec{Items: "data", Key: []string{"id"}, Ignore: []string{"ts"}})
	if err != nil {
		t.Fatal(err)
	}
	snap := mustDiff(t, d, nil, `{"data":[{"id":"b","ts":1,"x":[1.0]},{"x":2,"id":"a"}]}`).Snapshot
	items, err := Items(snap)
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{Key: "b", Value: []byte(`{"id":"b","x":[1]}`)}, {Key: "a", Value: []byte(`{"id":"a","x":2}`)}}
	if !slices.EqualFunc(items, want, func(a, b Item) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }) {
		t.Errorf("Items = %s, want %s", items, want)
	}
	if _, err := Document(snap); err == nil || err.Error() != "snapshot: holds items, not a document" {
		t.Errorf("Document of an items snapshot: %v", err)
	}

	doc, err := Compile(Spec{Ignore: []string{"ts"}})
	if err != nil {
		t.Fatal(err)
	}
	snap = mustDiff(t, doc, nil, `{"ts":1,"b":{"z":null,"y":true},"a":"x"}`).Snapshot
	got, err := Document(snap)
	if err != nil || string(got) != `{"a":"x","b":{"y":true,"z":null}}` {
		t.Errorf("Document = %s, %v", got, err)
	}
	if _, err := Items(snap); err == nil || err.Error() != "snapshot: holds a document, not items" {
		t.Errorf("Items of a document snapshot: %v", err)
	}
}

// TestSnapshotDeterministic pins that the encoding depends only on the
// canonical content and the raw body's hash.
func TestSnapshotDeterministic(t *testing.T) {
	d, err := Compile(Spec{Items: "$", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	a := mustDiff(t, d, nil, `[{"id":1,"v":1.50}]`).Snapshot
	b := mustDiff(t, d, nil, `[{"v":1.5,"id":1}]`).Snapshot
	if !bytes.Equal(a, mustDiff(t, d, nil, `[{"id":1,"v":1.50}]`).Snapshot) {
		t.Error("the same body gives different snapshots")
	}
	if !bytes.Equal(a[:offBody], b[:offBody]) || !bytes.Equal(a[offBody+32:], b[offBody+32:]) {
		t.Errorf("respelled body gives different content:\n%x\n%x", a, b)
	}
	if a[0] != formatVersion {
		t.Errorf("first byte = %d, want the format version %d", a[0], formatVersion)
	}
}

func TestSnapshotDecodeErrors(t *testing.T) {
	d, err := Compile(Spec{Items: "$", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	good := mustDiff(t, d, nil, `[{"id":1}]`).Snapshot
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		snap []byte
		want string
	}{
		{"unknown version", edit(func(b []byte) []byte { b[0] = 3; return b }), "snapshot: format version 3 is not supported (this build reads versions 1 and 2)"},
		{"version zero", []byte{0}, "snapshot: format version 0 is not supported (this build reads versions 1 and 2)"},
		{"short header", good[:40], "snapshot: truncated header (40 bytes)"},
		{"unknown kind", edit(func(b []byte) []byte { b[offKind] = 9; return b }), "snapshot: unknown kind 9"},
		{"count too large", edit(func(b []byte) []byte { putUint32(b[offCount:], 1<<30); return b }), "snapshot: item count 1073741824 does not fit 99 bytes"},
		{"truncated value", good[:headerSize+9], "snapshot: truncated at byte 86"},
		{"truncated key", good[:len(good)-1], "snapshot: truncated at byte 98"},
		{"trailing bytes", append(bytes.Clone(good), 0), "snapshot: 1 unexpected bytes after the last key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Items(tt.snap); err == nil || err.Error() != tt.want {
				t.Errorf("Items error = %v, want %q", err, tt.want)
			}
			if _, err := Load(tt.snap, nil); err == nil || err.Error() != tt.want {
				t.Errorf("Load error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestEmptyPrevIsNoSnapshot pins that an empty stored value counts as none.
func TestEmptyPrevIsNoSnapshot(t *testing.T) {
	d, err := Compile(Spec{})
	if err != nil {
		t.Fatal(err)
	}
	prev, err := Load([]byte{}, nil)
	if err != nil || prev != nil {
		t.Fatalf("Load of an empty snapshot = %v, %v; want no state", prev, err)
	}
	if res := mustDiff(t, d, prev, `{}`); !res.Baseline {
		t.Errorf("Diff with an empty snapshot: Baseline = false, want true")
	}
}
