package poller

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"strings"
)

// acceptEncoding is sent with every poll. The poller decodes both itself:
// Go's transport decodes gzip only when it chose the header, and never
// deflate, which old servers still favour.
const acceptEncoding = "gzip, deflate"

// errTooLarge is readBody's answer to a body over the limit, decoded.
var errTooLarge = errors.New("body too large")

// encodingError is a Content-Encoding the poller cannot decode.
type encodingError struct{ encoding string }

func (e *encodingError) Error() string {
	return "unsupported Content-Encoding " + quote(e.encoding) + " (pollhook accepts gzip and deflate)"
}

// quote quotes s for an error, cut to keep a hostile header short.
func quote(s string) string {
	const most = 40
	if len(s) > most {
		s = s[:most] + "..."
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}

// readBody reads the body of resp, decoded, and fails with errTooLarge
// when more than limit bytes of it would come out: the limit bounds the
// memory a poll takes, so it counts decoded bytes, and a zip bomb stops
// at limit+1 of them. An identity body announced as larger fails before
// anything is read.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	r, identity, err := decoder(resp)
	if err != nil {
		return nil, err
	}
	if identity && resp.ContentLength > limit {
		return nil, errTooLarge
	}
	// Reading one byte past the limit is how an overlong body is told
	// apart from one of exactly limit bytes without reading the rest.
	length := int64(-1)
	if identity {
		length = resp.ContentLength
	}
	body, err := ReadAll(io.LimitReader(r, limit+1), length)
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errTooLarge
	}
	return body, nil
}

// ReadAll reads r to its end, as io.ReadAll does; length is how long the
// body says it is (-1: unknown), and a buffer of that size is allocated
// once: io.ReadAll's growing buffer costs twice the memory and three times
// the time on a 22 MB body. PollStream's readers use it to read a body
// whole.
func ReadAll(r io.Reader, length int64) ([]byte, error) {
	if length <= 0 {
		return io.ReadAll(r)
	}
	var buf bytes.Buffer
	// bytes.MinRead more than announced: ReadFrom wants that much room
	// before each read, the last one included (the one that sees EOF),
	// and would otherwise double the buffer at the end.
	buf.Grow(int(length) + bytes.MinRead)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// decoder returns the reader of resp's decoded body and whether the body
// is sent as is.
func decoder(resp *http.Response) (r io.Reader, identity bool, err error) {
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity":
		return resp.Body, true, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if errors.Is(err, io.EOF) {
			// An empty body labelled gzip, as some servers send with
			// a 200 and nothing to say: Go's transport reads it as empty.
			return bytes.NewReader(nil), false, nil
		}
		return zr, false, err
	case "deflate":
		r, err := inflate(resp.Body)
		return r, false, err
	}
	return nil, false, &encodingError{resp.Header.Get("Content-Encoding")}
}

// inflate decodes an HTTP deflate body. RFC 9110 says it is zlib (RFC
// 1950), but some servers send raw deflate (RFC 1951), so the first two
// bytes decide, as browsers do: a zlib header names method 8 and is a
// multiple of 31.
func inflate(body io.Reader) (io.Reader, error) {
	var hdr [2]byte
	n, err := io.ReadFull(body, hdr[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return bytes.NewReader(nil), nil
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return nil, err
	}
	r := io.MultiReader(bytes.NewReader(hdr[:n]), body)
	if n == 2 && hdr[0]&0x0f == 8 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
		return zlib.NewReader(r)
	}
	return flate.NewReader(r), nil
}

// drainLimit is how much of an unread body drain reads.
const drainLimit = 4 << 10

// drain reads what is left of a body that was read as far as the poller
// wanted, so that its connection can serve the next poll: a decoder may
// stop before the end of the raw stream (zlib after its checksum), and an
// error body is read only in part. A longer rest costs more than a new
// connection, so it is left unread.
func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, drainLimit)
}
