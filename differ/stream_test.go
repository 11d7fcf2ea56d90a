package differ

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"
)

// chunkReader hands out its body in pieces of random lengths, as a
// network connection does.
type chunkReader struct {
	b   []byte
	r   *rand.Rand
	max int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.b), 1+c.r.IntN(c.max))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// streamReaders are the ways a test hands a body to DiffStream.
func streamReaders(body []byte, seed uint64) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":    bytes.NewReader(body),
		"one byte": iotest.OneByteReader(bytes.NewReader(body)),
		"chunks":   &chunkReader{b: body, r: rand.New(rand.NewPCG(seed, 1)), max: 9000},
		"data+EOF": iotest.DataErrReader(bytes.NewReader(body)),
	}
}

// compareStream compares body with prev twice, from the whole body
// (DiffResponse) and as it is read (DiffStream, with every reader of
// streamReaders), and fails unless both give the same error or the same
// result: flags, sum, changes, the bytes to store and the next state. It
// returns the whole body's result.
func compareStream(t *testing.T, d *Differ, prev *State, body []byte, seed uint64) (*Result, error) {
	t.Helper()
	want, werr := d.DiffResponse(context.Background(), prev, body, "application/json")
	if !d.CanStream(prev, "application/json") {
		t.Fatalf("CanStream is false for %+v", d.spec)
	}
	for name, r := range streamReaders(body, seed) {
		size := int64(len(body))
		if name == "chunks" {
			size = -1
		}
		got, gerr := d.DiffStream(prev, r, size)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("%s: %q:\nstreamed: %v\nwhole:    %v", name, clip(body), gerr, werr)
		}
		if werr != nil {
			continue
		}
		if got.Baseline != want.Baseline || got.Held != want.Held || got.Unchanged != want.Unchanged || got.Sum != want.Sum {
			t.Fatalf("%s: %q: flags %+v streamed, %+v whole", name, clip(body), got, want)
		}
		if !reflect.DeepEqual(got.Changes, want.Changes) {
			t.Fatalf("%s: %q: changes\n%v streamed\n%v whole", name, clip(body), got.Changes, want.Changes)
		}
		gs, ws := (&memChunks{}).apply(t, got), (&memChunks{}).apply(t, want)
		if !reflect.DeepEqual(gs.chunks, ws.chunks) {
			t.Fatalf("%s: %q: the bytes to store differ", name, clip(body))
		}
		if diff := sameState(got.Next, want.Next); diff != "" {
			t.Fatalf("%s: %q: next state differs: %s", name, clip(body), diff)
		}
	}
	return want, werr
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:100]) + "..." + string(b[len(b)-100:])
	}
	return string(b)
}

// TestStreamMatchesWhole holds DiffStream to DiffResponse over random
// polls of every items mode (reordered, respelled, deleted and created
// items, the guard, debounce), each read in whole, one byte at a time and
// in random pieces.
func TestStreamMatchesWhole(t *testing.T) {
	specs := []Spec{
		{Items: "orders", Key: []string{"id"}, Ignore: []string{"seen"}},
		{Items: "orders", Key: []string{"id"}, Ignore: []string{"seen"}, Unordered: []string{"tags"}},
		{Items: "orders", Ignore: []string{"seen"}},
		{Items: "orders", Key: []string{"id"}, Ignore: []string{"seen"}, Debounce: 2},
		{Items: "orders", Key: []string{"id"}, Guard: Guard{MaxDeletedRatio: 0.5, ConfirmPolls: 2}},
	}
	for i, spec := range specs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			d, err := Compile(spec)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(7, uint64(i)))
			bodies := orderBodies(r, 40, 40)
			first, err := d.Diff(nil, bodies[0])
			if err != nil {
				t.Fatal(err)
			}
			prev := first.Next
			for n, body := range bodies[1:] {
				res, err := compareStream(t, d, prev, body, uint64(n))
				if err != nil {
					t.Fatalf("poll %d: %v", n, err)
				}
				prev = res.Next
			}
		})
	}
}

// largeOrders is a body of n orders, some far larger than the window, with
// runs of whitespace longer than it between elements.
func largeOrders(n, v int) []byte {
	var b bytes.Buffer
	b.WriteString("\xef\xbb\xbf {\"meta\":{\"note\":\"" + strings.Repeat("m", 3*firstWindow) + "\"},\"data\":{\"orders\":[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		switch {
		case i%500 == 250:
			b.WriteString(strings.Repeat(" \n", firstWindow))
		case i%700 == 1:
			fmt.Fprintf(&b, `{"id":%d,"blob":"%s","v":%d}`, i, strings.Repeat("b", 2*firstWindow+i), v)
			continue
		}
		fmt.Fprintf(&b, `{"id":%d,"status":"open","lines":[{"sku":"S-%d","qty":%d}],"v":%d}`, i, i, i%7, v*(i%13))
	}
	b.WriteString("]},\"tail\":[1,2,{\"x\":\"" + strings.Repeat("t", firstWindow) + "\"}]}\n\t ")
	return b.Bytes()
}

// TestStreamLargeBodies reads bodies larger than the window, with a
// member before the items and an element and a run of whitespace each
// larger than the window, so that the window grows, is compacted and
// hashes on the side, and checks every result against the whole body's.
func TestStreamLargeBodies(t *testing.T) {
	d, err := Compile(Spec{Items: "data.orders", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := largeOrders(3000, 1), largeOrders(3100, 2)
	if len(a) < 2*parallelHashSize {
		t.Fatalf("body of %d bytes: too small to hash on the side", len(a))
	}
	first, err := d.Diff(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compareStream(t, d, first.Next, b, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) < 100 {
		t.Fatalf("%d changes, want the updated and created orders", len(res.Changes))
	}
	// The same body again is found unchanged at its end.
	got, err := d.DiffStream(res.Next, bytes.NewReader(b), int64(len(b)))
	if err != nil || !got.Unchanged || len(got.Changes) != 0 || got.Next != res.Next {
		t.Fatalf("the same body again: %+v, %v", got, err)
	}
	// Truncated anywhere, the body fails as the whole truncated body
	// does: with the same error at the same offset.
	for _, cut := range []int{0, 1, 2, 3, 100, firstWindow, len(a) / 3, len(b) / 2, len(b) - 200, len(b) - 5} {
		if _, err := compareStream(t, d, first.Next, b[:cut], uint64(cut)); err == nil {
			t.Fatalf("cut at %d: no error", cut)
		}
	}
}

// TestStreamErrors pins that errors are the whole body's, byte for byte.
func TestStreamErrors(t *testing.T) {
	d, err := Compile(Spec{Items: "data[*].orders", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := d.Diff(nil, []byte(`{"data":[{"orders":[{"id":1},{"id":2}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"data":[{"orders":[{"id":1},{"id":2}]},{"orders":[{"id":2}]}]}`, `items 1 and 2 have the same key "2"`},
		{`{"data":[{"orders":[{"id":1},{"x":2}]}]}`, `item 1: key field "id" is missing`},
		{`{"data":[{"orders":{"id":1}}]}`, `items "data[*].orders": "data[0].orders" is an object, want an array`},
		{`{"data":[{"orders":[{"id":1},{"id":2}]}]`, `parse response: unexpected end of JSON input at offset 40`},
		{`{"data":[{"orders":[{"id":1} {"id":2}]}]}`, `parse response: invalid character '{' after array element at offset 29`},
		{`{"data":[{"orders":[{"id":1},{"id":2}]}]} x`, `parse response: invalid character 'x' after top-level value at offset 42`},
		{`<html>down for maintenance</html>`, `parse response: invalid character '<' looking for beginning of value at offset 0`},
		{"{\"data\":[{\"orders\":[{\"id\":\"\xff\"}]}]}", ""},
	} {
		_, err := compareStream(t, d, first.Next, []byte(tc.body), 3)
		if tc.want != "" && fmt.Sprint(err) != tc.want {
			t.Errorf("%s: error %v, want %s", tc.body, err, tc.want)
		}
	}
}

// TestStreamReadError: a body that cannot be read to its end fails with
// the reader's own error, whatever the parser made of the part it had.
func TestStreamReadError(t *testing.T) {
	d, err := Compile(Spec{Items: "data.orders", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	body := largeOrders(2000, 1)
	first, err := d.Diff(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection reset by peer")
	for _, at := range []int{0, 10, len(body) / 2, len(body) - 1, len(body)} {
		r := io.MultiReader(bytes.NewReader(body[:at]), iotest.ErrReader(boom))
		if _, err := d.DiffStream(first.Next, r, -1); !errors.Is(err, boom) || err.Error() != boom.Error() {
			t.Errorf("read fails after %d bytes: %v, want %v", at, err, boom)
		}
	}
}

// TestStreamHoldsLittle pins the point of streaming: a large body compared
// as it is read costs a small part of its size in memory.
func TestStreamHoldsLittle(t *testing.T) {
	d, err := Compile(Spec{Items: "orders", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	pad := strings.Repeat("p", 220)
	b.WriteString(`{"orders":[`)
	for i := range 40000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"status":"open","customer":{"name":"Customer %d"},"total":%d.50,"note":"%s"}`, i, i%977, i%500, pad)
	}
	b.WriteString("]}")
	body := b.Bytes()
	first, err := d.Diff(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := d.DiffStream(first.Next, bytes.NewReader(body), -1)
	runtime.ReadMemStats(&after)
	if err != nil || !res.Unchanged {
		t.Fatalf("%+v, %v", res, err)
	}
	// The walker's records of the items, the window and the copies the
	// side hasher may lag behind by: a fraction of the body.
	most := uint64(40000*unsafe.Sizeof(pending{})*17/16 + 4*firstWindow + hashChunks*hashChunk)
	if most > uint64(len(body))/2 {
		t.Fatalf("the bound, %d bytes, is not a small part of the %d-byte body", most, len(body))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > most {
		t.Errorf("streaming a %d-byte body allocated %d bytes, want at most %d", len(body), got, most)
	}
}

// TestCanStream: only JSON items compared with a state of the same rules
// stream.
func TestCanStream(t *testing.T) {
	items, err := Compile(Spec{Items: "$", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := items.Diff(nil, []byte(`[{"id":1}]`))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := Compile(Spec{Items: "$", Key: []string{"id"}, Ignore: []string{"x"}})
	doc, _ := Compile(Spec{})
	jq, _ := Compile(Spec{Items: "$", Key: []string{"id"}, Transform: "."})
	xml, _ := Compile(Spec{Items: "$", Key: []string{"id"}, Format: "xml"})
	for _, tc := range []struct {
		name string
		d    *Differ
		prev *State
		ct   string
		want bool
	}{
		{"items, JSON", items, res.Next, "application/json", true},
		{"items, any type read as JSON", items, res.Next, "text/plain", true},
		{"no state", items, nil, "application/json", false},
		{"a state of other rules", other, res.Next, "application/json", false},
		{"document mode", doc, res.Next, "application/json", false},
		{"a transform", jq, res.Next, "application/json", false},
		{"XML by the job", xml, res.Next, "application/json", false},
		{"XML by its type", items, res.Next, "application/xml", false},
		{"CSV by its type", items, res.Next, "text/csv", false},
	} {
		if got := tc.d.CanStream(tc.prev, tc.ct); got != tc.want {
			t.Errorf("%s: CanStream = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := doc.DiffStream(res.Next, strings.NewReader(`{}`), 2); err == nil {
		t.Error("DiffStream in document mode: no error")
	}
}

// FuzzStream compares arbitrary bodies with a state as they are read, in
// pieces whose lengths come from the input, and holds every result and
// every error to those of the whole body.
func FuzzStream(f *testing.F) {
	for _, s := range [][2]string{
		{`[{"id":1,"v":1},{"id":2}]`, `[{"id":2,"v":[1,2]},{"id":3}]`},
		{`{"items":[{"id":"x","ts":1}]}`, `{"items":[{"id":"x","ts":2,"n":{"m":1}}]}`},
		{`[{"o":[{"id":1},{"id":2}]},{"o":[]}]`, `[{"o":[{"id":2}]},{"o":[{"id":1,"v":"]"}]}]`},
		{`[{"id":1},{"id":2}]`, "\xef\xbb\xbf [ {\"id\":2} ,\n{\"id\":1}] "},
		{`[{"id":1}]`, `[{"id":1},{"id":2]`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]), uint64(1))
	}
	f.Fuzz(func(t *testing.T, a, b []byte, seed uint64) {
		for _, spec := range fuzzSpecs {
			d, err := Compile(spec)
			if err != nil {
				t.Fatal(err)
			}
			first, err := d.Diff(nil, a)
			if err != nil || !d.CanStream(first.Next, "application/json") {
				continue
			}
			compareStream(t, d, first.Next, b, seed)
		}
	})
}

// TestPendingSize pins the size of the walker's record of one element: a
// response has 100,000 of them, all live while a poll is compared.
func TestPendingSize(t *testing.T) {
	if got := unsafe.Sizeof(pending{}); got != 40 {
		t.Errorf("pending takes %d bytes, want 40", got)
	}
}
