package differ

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// csvToJSON maps a CSV document with a header row to a JSON array with
// one object per row, from header name to cell, every cell a string; so
// items: $ selects the rows and key: names columns.
//
// The format is RFC 4180 as encoding/csv reads it: comma-separated only
// (no delimiter detection: a semicolon file is one column), CRLF or LF,
// quoted fields may hold commas, quotes ("") and line breaks, blank lines
// are skipped, and a UTF-8 byte order mark is skipped. Header names are
// taken exactly as written. An empty body or a header alone is an empty
// array. A header with an empty or repeated name, a row whose field count
// differs from the header's, and a stray quote are errors naming the line.
func csvToJSON(body []byte) ([]byte, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, utf8BOM)))
	r.FieldsPerRecord = -1 // checked here, to say what was expected
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return []byte("[]"), nil
	}
	if err != nil {
		return nil, csvError(err)
	}
	// Each row repeats the names: encode them once.
	names := make([][]byte, len(header))
	seen := make(map[string]int, len(header))
	perRow := 2 // what a row adds to its cells: names, quotes, punctuation
	for i, h := range header {
		if h == "" {
			return nil, fmt.Errorf("parse CSV: header: column %d has no name", i+1)
		}
		if !utf8.ValidString(h) {
			return nil, fmt.Errorf("parse CSV: header: column %d is not valid UTF-8", i+1)
		}
		names[i] = append(appendString(nil, h), ':')
		if j, ok := seen[string(names[i])]; ok {
			return nil, fmt.Errorf("parse CSV: header: column %d %q repeats column %d", i+1, h, j+1)
		}
		seen[string(names[i])] = i
		perRow += len(names[i]) + 3
	}
	// One line a row, as a rule: size the output once.
	out := make([]byte, 0, len(body)+bytes.Count(body, []byte{'\n'})*perRow+2)
	out = append(out, '[')
	for rows := 0; ; rows++ {
		record, err := r.Read()
		if err == io.EOF {
			return append(out, ']'), nil
		}
		if err != nil {
			return nil, csvError(err)
		}
		if len(record) != len(names) {
			line, _ := r.FieldPos(0)
			return nil, fmt.Errorf("parse CSV: line %d: %d fields, header has %d", line, len(record), len(names))
		}
		if rows > 0 {
			out = append(out, ',')
		}
		out = append(out, '{')
		for i, cell := range record {
			if !utf8.ValidString(cell) {
				// As in JSON: a stray byte must fail the poll, not
				// change the item to U+FFFD and back.
				line, col := r.FieldPos(i)
				return nil, fmt.Errorf("parse CSV: line %d, column %d: not valid UTF-8", line, col)
			}
			if i > 0 {
				out = append(out, ',')
			}
			out = appendString(append(out, names[i]...), cell)
		}
		out = append(out, '}')
	}
}

// csvError words an encoding/csv error as the other readers do.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("parse CSV: line %d, column %d: %w", pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("parse CSV: %w", err)
}
