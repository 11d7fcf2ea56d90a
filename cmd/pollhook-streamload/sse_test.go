package main

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// parsed is an event as plain strings, for comparing.
type parsed struct{ ID, Type, Data string }

// parseAll reads every event of stream through r's reader, and returns
// them with the comment count and the error that ended the stream.
func parseAll(r io.Reader) ([]parsed, int, error) {
	p := newSSEReader(r)
	var out []parsed
	for {
		ev, err := p.next()
		if err != nil {
			return out, p.comments, err
		}
		out = append(out, parsed{string(ev.ID), string(ev.Type), string(ev.Data)})
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		want     []parsed
		comments int
		err      error
	}{
		{
			name:     "pollhook's shape",
			stream:   "id: evt_1\nevent: item.created\ndata: {\"type\":\"item.created\"}\n\n: heartbeat\n\nid: evt_2\nevent: item.updated\ndata: {}\n\n",
			want:     []parsed{{"evt_1", "item.created", `{"type":"item.created"}`}, {"evt_2", "item.updated", "{}"}},
			comments: 1,
			err:      io.EOF,
		},
		{
			name:   "data lines joined, no type is message",
			stream: "data: a\ndata:b\ndata:  c\n\n",
			want:   []parsed{{"", "message", "a\nb\n c"}},
			err:    io.EOF,
		},
		{
			name:   "CRLF and lone CR line ends",
			stream: "id: 1\r\nevent: x\r\ndata: a\r\n\r\nid: 2\revent: y\rdata: b\r\rdata: c\n\n",
			want:   []parsed{{"1", "x", "a"}, {"2", "y", "b"}, {"2", "message", "c"}},
			err:    io.EOF,
		},
		{
			name:   "a BOM at the start is dropped",
			stream: "\xEF\xBB\xBFdata: a\n\n",
			want:   []parsed{{"", "message", "a"}},
			err:    io.EOF,
		},
		{
			name:   "the id persists; an id with NUL is ignored; an empty id clears it",
			stream: "id: 7\ndata: a\n\ndata: b\n\nid: 8\x00\ndata: c\n\nid\ndata: d\n\n",
			want:   []parsed{{"7", "message", "a"}, {"7", "message", "b"}, {"7", "message", "c"}, {"", "message", "d"}},
			err:    io.EOF,
		},
		{
			name:   "no data: nothing dispatched, and the type does not carry over",
			stream: "event: ping\n\ndata: a\n\n",
			want:   []parsed{{"", "message", "a"}},
			err:    io.EOF,
		},
		{
			name:   "a data field without a colon is an empty line of data",
			stream: "data\n\ndata\ndata\n\n",
			want:   []parsed{{"", "message", ""}, {"", "message", "\n"}},
			err:    io.EOF,
		},
		{
			name:   "retry and unknown fields change nothing",
			stream: "retry: 1000\nfoo: bar\ndata: a\n\n",
			want:   []parsed{{"", "message", "a"}},
			err:    io.EOF,
		},
		{
			name:   "an event cut off by the end is dropped",
			stream: "data: a\n\ndata: b\n",
			want:   []parsed{{"", "message", "a"}},
			err:    io.EOF,
		},
		{
			name:   "a line cut off by the end",
			stream: "data: a\n\ndata: b",
			want:   []parsed{{"", "message", "a"}},
			err:    io.ErrUnexpectedEOF,
		},
		{
			name:     "comments only",
			stream:   ": hello\n:\n\n",
			comments: 2,
			err:      io.EOF,
		},
	}
	for _, tt := range tests {
		// Whole, and a byte at a time: where reads split the stream must
		// not matter (a CR ending one read and a LF starting the next).
		for _, split := range []bool{false, true} {
			name := tt.name
			var r io.Reader = strings.NewReader(tt.stream)
			if split {
				name += "/one byte per read"
				r = iotest.OneByteReader(r)
			}
			t.Run(name, func(t *testing.T) {
				got, comments, err := parseAll(r)
				if !errors.Is(err, tt.err) {
					t.Errorf("error %v, want %v", err, tt.err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("events\n%q\nwant\n%q", got, tt.want)
				}
				if comments != tt.comments {
					t.Errorf("%d comments, want %d", comments, tt.comments)
				}
			})
		}
	}
}

func TestSSEReaderLineTooLong(t *testing.T) {
	p := newSSEReader(strings.NewReader("data: " + strings.Repeat("x", 100) + "\n\n"))
	p.maxLine = 50
	_, err := p.next()
	if !errors.Is(err, errLineTooLong) || err.Error() != "event stream: line too long (over 50 bytes)" {
		t.Fatalf("error %v, want the line too long", err)
	}
}

func TestSSEReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	p := newSSEReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)))
	ev, err := p.next()
	if err != nil || string(ev.Data) != "a" {
		t.Fatalf("first event %q, %v", ev.Data, err)
	}
	if _, err := p.next(); !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
}

// FuzzSSEReader holds the reader to giving the same events however the
// stream is split into reads.
func FuzzSSEReader(f *testing.F) {
	f.Add("id: evt_1\nevent: item.created\ndata: {}\n\n: heartbeat\n\n")
	f.Add("data: a\r\ndata: b\r\rid: 1\x00\n\n")
	f.Fuzz(func(t *testing.T, stream string) {
		whole, c1, err1 := parseAll(strings.NewReader(stream))
		split, c2, err2 := parseAll(iotest.OneByteReader(strings.NewReader(stream)))
		if !reflect.DeepEqual(whole, split) || c1 != c2 || errString(err1) != errString(err2) {
			t.Fatalf("whole: %q %d %v\nsplit: %q %d %v", whole, c1, err1, split, c2, err2)
		}
	})
}
