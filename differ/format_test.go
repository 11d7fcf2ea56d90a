package differ

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFormatFromContentType(t *testing.T) {
	for _, tc := range []struct{ contentType, want string }{
		{"application/json", "json"},
		{"application/json; charset=utf-8", "json"},
		{"Application/JSON;charset=UTF-8", "json"},
		{"  application/json  ", "json"},
		{"application/problem+json", "json"},
		{"application/vnd.api+json; ext=bulk", "json"},
		{"application/xml", "xml"},
		{"text/xml; charset=ISO-8859-1", "xml"},
		{"application/rss+xml", "xml"},
		{"application/atom+xml", "xml"},
		{"image/svg+xml", "xml"},
		{"text/csv", "csv"},
		{"text/csv; header=present; charset=utf-8", "csv"},
		{"application/csv", "csv"},
		{"text/html; charset=utf-8", "text"},
		{"text/plain", "text"},
		{"", "text"},
		{";", "text"},
		{"application/octet-stream", "text"},
		{"application/jsonl", "text"},
		{"text/json-seq", "text"},
		{"application/xml-dtd", "text"},
	} {
		if got := FormatFromContentType(tc.contentType); got != tc.want {
			t.Errorf("FormatFromContentType(%q) = %q, want %q", tc.contentType, got, tc.want)
		}
		if !slices.Contains(Formats, tc.want) {
			t.Errorf("%q is not in Formats %q", tc.want, Formats)
		}
	}
	if want := []string{"json", "xml", "csv", "text"}; !slices.Equal(Formats, want) {
		t.Errorf("Formats = %q, want %q", Formats, want)
	}
}

// conversion is a case of a reader test: the body, and the JSON or the
// error message it must give.
type conversion struct{ name, body, want string }

// checkConversions pins what convert makes of each body, white space
// outside strings aside (the canonicaliser drops it).
func checkConversions(t *testing.T, convert func([]byte) ([]byte, error), cases []conversion) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := convert([]byte(tc.body))
			if err != nil {
				t.Fatalf("%q: %v", tc.body, err)
			}
			if got := compactJSON(t, got); got != tc.want {
				t.Errorf("%q =\n%s\nwant\n%s", tc.body, got, tc.want)
			}
		})
	}
}

// compactJSON returns b without white space outside strings, failing the
// test if b is not valid JSON.
func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	return compact.String()
}

// checkConversionErrors pins the error convert reports for each body.
func checkConversionErrors(t *testing.T, convert func([]byte) ([]byte, error), cases []conversion) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := convert([]byte(tc.body))
			if err == nil {
				t.Fatalf("%q = %s, want error %q", tc.body, got, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("%q: %q, want %q", tc.body, err, tc.want)
			}
		})
	}
}

// convertChecked runs convert twice for a fuzz target, failing unless it
// gives the same both times and, without error, valid JSON.
func convertChecked(t *testing.T, convert func([]byte) ([]byte, error), body []byte) ([]byte, error) {
	t.Helper()
	got, err := convert(body)
	again, err2 := convert(body)
	if fmt.Sprint(err) != fmt.Sprint(err2) || !bytes.Equal(got, again) {
		t.Fatalf("not deterministic: %s, %v then %s, %v", got, err, again, err2)
	}
	if err == nil && !json.Valid(got) {
		t.Fatalf("%q gives invalid JSON %q", body, got)
	}
	return got, err
}

// benchConvert measures convert on documents of 1k, 10k and 100k items
// rendered by render, in CPU time too (see cpuTime).
func benchConvert(b *testing.B, convert func([]byte) ([]byte, error), render func(n int) []byte) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		body := render(n)
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu := cpuTime(b)
			for b.Loop() {
				if _, err := convert(body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// checkReaderFiles converts each file matching pattern in testdata/readers
// with convert and compares the result with the file's .json sibling,
// which is indented for reading.
func checkReaderFiles(t *testing.T, pattern string, convert func([]byte) ([]byte, error)) {
	files, err := filepath.Glob(filepath.Join("testdata", "readers", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s in testdata/readers: %v", pattern, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(file + ".json")
			if err != nil {
				t.Fatal(err)
			}
			got, err := convert(body)
			if err != nil {
				t.Fatal(err)
			}
			if compactJSON(t, got) != compactJSON(t, want) {
				var indented bytes.Buffer
				_ = json.Indent(&indented, got, "", "  ")
				t.Errorf("got\n%s\nwant\n%s", indented.Bytes(), want)
			}
		})
	}
}
