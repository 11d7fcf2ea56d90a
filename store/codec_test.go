package store

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestChunkRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 27, 20, 0, 0, 1, time.UTC)
	tests := []struct {
		name   string
		events []Event
		chunks []uint64 // first seq of each chunk
	}{
		{"one", []Event{{ID: "evt_1", Type: "item.created", Key: "k", Time: at, Data: json.RawMessage(`{"a":1}`)}}, []uint64{10}},
		{"empty fields", []Event{{Time: at}}, []uint64{10}},
		{"count limit", newEvents(chunkMaxEvents+1, 10), []uint64{10, 10 + chunkMaxEvents}},
		{"byte limit", newEvents(3, chunkTargetBytes/2+1), []uint64{10, 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.events {
				tt.events[i].Seq = 10 + uint64(i)
				tt.events[i].Job = "orders"
				tt.events[i].Time = at
			}
			var firsts []uint64
			var got []Event
			err := encodeChunks(tt.events, func(first uint64, count int, b []byte) error {
				firsts = append(firsts, first)
				c, err := parseChunk(first, b)
				if err != nil {
					return err
				}
				if c.count != count {
					t.Errorf("chunk at %d: %d events, emitted as %d", first, c.count, count)
				}
				for i := range c.count {
					ev, err := c.event(i, "orders")
					if err != nil {
						return err
					}
					got = append(got, ev)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !equalJSON(firsts, tt.chunks) {
				t.Errorf("chunks start at %v, want %v", firsts, tt.chunks)
			}
			if !equalJSON(got, tt.events) {
				t.Errorf("decoded %+v\nwant %+v", got, tt.events)
			}
		})
	}
}

// FuzzParseChunk: whatever bytes a chunk key holds, decoding returns events
// or errBadChunk, never a panic.
func FuzzParseChunk(f *testing.F) {
	_ = encodeChunks([]Event{{ID: "evt_1", Type: "t", Key: "k", Data: json.RawMessage(`{}`), Seq: 1}, {Seq: 2}},
		func(_ uint64, _ int, b []byte) error { f.Add(b); return nil })
	f.Add([]byte{chunkFormat, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseChunk(1, b)
		if err != nil {
			if !errors.Is(err, errBadChunk) {
				t.Fatalf("error %v is not errBadChunk", err)
			}
			return
		}
		for i := range c.count {
			if _, err := c.event(i, "j"); err != nil && !errors.Is(err, errBadChunk) {
				t.Fatalf("event %d: error %v is not errBadChunk", i, err)
			}
		}
	})
}
