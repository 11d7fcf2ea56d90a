package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// sseEvent is one dispatched Server-Sent Events message. Its slices belong
// to the reader and are valid until the next call of next.
type sseEvent struct {
	ID   []byte // the last event id buffer at dispatch, as EventSource sets lastEventId
	Type []byte // "message" when the event had no event: field
	Data []byte // the data: lines joined by "\n"
}

// sseReader parses a text/event-stream as the HTML standard's
// "Interpreting an event stream" section does: lines end in CRLF, LF or a
// lone CR; a leading BOM is dropped; ':' starts a comment; a blank line
// dispatches the event, unless no data: came; an id: holding NUL is
// ignored; an event cut off by the end of the stream is dropped.
type sseReader struct {
	r        *bufio.Reader
	maxLine  int
	started  bool // the BOM check is done
	skipLF   bool // the last line ended in CR: a LF right after it belongs to it
	line     []byte
	lastID   []byte
	typ      []byte
	data     []byte
	hasData  bool
	comments int // comment lines read (": heartbeat")
}

// maxSSELine bounds one line, so that a stream without line ends cannot
// grow the reader without limit.
const maxSSELine = 1 << 20

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 4<<10), maxLine: maxSSELine}
}

// errLineTooLong is returned for a line over maxLine bytes.
var errLineTooLong = errors.New("event stream: line too long")

// next reads until an event is dispatched. At the end of the stream it
// returns io.EOF (an unfinished event is dropped), or the read error.
func (p *sseReader) next() (sseEvent, error) {
	for {
		line, err := p.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if !p.hasData {
				p.typ = p.typ[:0]
				continue
			}
			ev := sseEvent{ID: p.lastID, Type: p.typ, Data: bytes.TrimSuffix(p.data, []byte("\n"))}
			if len(ev.Type) == 0 {
				ev.Type = []byte("message")
			}
			// The event's slices are the caller's until the next call,
			// which starts by overwriting them.
			p.typ, p.data, p.hasData = p.typ[:0], p.data[:0], false
			return ev, nil
		}
		if line[0] == ':' {
			p.comments++
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "event":
			p.typ = append(p.typ[:0], value...)
		case "data":
			p.data = append(append(p.data, value...), '\n')
			p.hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				p.lastID = append([]byte(nil), value...)
			}
		}
		// retry: and unknown fields change nothing the tool uses.
	}
}

// readLine returns the next line without its end, valid until the next call.
func (p *sseReader) readLine() ([]byte, error) {
	if !p.started {
		p.started = true
		if b, err := p.r.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
			_, _ = p.r.Discard(3)
		}
	}
	p.line = p.line[:0]
	for {
		if p.r.Buffered() == 0 {
			if _, err := p.r.Peek(1); err != nil {
				if errors.Is(err, io.EOF) && len(p.line) > 0 {
					return nil, io.ErrUnexpectedEOF
				}
				return nil, err
			}
		}
		buf, _ := p.r.Peek(p.r.Buffered())
		if p.skipLF {
			p.skipLF = false
			if buf[0] == '\n' {
				_, _ = p.r.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			p.line = append(p.line, buf...)
			_, _ = p.r.Discard(len(buf))
			if len(p.line) > p.maxLine {
				return nil, fmt.Errorf("%w (over %d bytes)", errLineTooLong, p.maxLine)
			}
			continue
		}
		p.line = append(p.line, buf[:i]...)
		p.skipLF = buf[i] == '\r'
		_, _ = p.r.Discard(i + 1)
		if len(p.line) > p.maxLine {
			return nil, fmt.Errorf("%w (over %d bytes)", errLineTooLong, p.maxLine)
		}
		return p.line, nil
	}
}
