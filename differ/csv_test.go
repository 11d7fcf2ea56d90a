package differ

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCSVToJSON(t *testing.T) {
	checkConversions(t, csvToJSON, []conversion{
		{"rows", "id,name\n1,Ann\n2,Bob\n", `[{"id":"1","name":"Ann"},{"id":"2","name":"Bob"}]`},
		{"no final newline", "id,name\n1,Ann", `[{"id":"1","name":"Ann"}]`},
		{"CRLF", "id,name\r\n1,Ann\r\n", `[{"id":"1","name":"Ann"}]`},
		{"byte order mark", "\ufeffid,name\n1,Ann\n", `[{"id":"1","name":"Ann"}]`},
		{"empty body", "", `[]`},
		{"header only", "id,name\n", `[]`},
		{"header only, CRLF, no newline", "id,name", `[]`},
		{"blank lines skipped", "id\n\n1\n\r\n\n2\n\n", `[{"id":"1"},{"id":"2"}]`},
		{"quoted commas and quotes", "a,b\n\"x, y\",\"say \"\"hi\"\"\"\n", `[{"a":"x, y","b":"say \"hi\""}]`},
		{"quoted line breaks", "a,b\n\"1\r\n2\",\"3\n4\"\n", `[{"a":"1\n2","b":"3\n4"}]`},
		{"empty cells", "a,b,c\n,,\n", `[{"a":"","b":"","c":""}]`},
		{"spaces kept", "a , b\n 1 , 2 \n", `[{"a ":" 1 "," b":" 2 "}]`},
		{"numbers stay strings", "n\n1.0\n1\n", `[{"n":"1.0"},{"n":"1"}]`},
		{"JSON escapes", "k\n\"\\\t\x01\"\n", `[{"k":"\\\t\u0001"}]`},
		{"unicode", "名前\nCafé\n", `[{"名前":"Café"}]`},
		{"semicolons are one column", "a;b\n1;2\n", `[{"a;b":"1;2"}]`},
	})
}

func TestCSVToJSONErrors(t *testing.T) {
	checkConversionErrors(t, csvToJSON, []conversion{
		{"empty header name", "id,,name\n", `parse CSV: header: column 2 has no name`},
		{"repeated header name", "id,name,id\n", `parse CSV: header: column 3 "id" repeats column 1`},
		{"invalid UTF-8 in the header", "a\x83,b\n", `parse CSV: header: column 1 is not valid UTF-8`},
		{"invalid UTF-8 in a cell", "k,v\n1,ok\n2,caf\xe9\n", `parse CSV: line 3, column 3: not valid UTF-8`},
		{"too many fields", "a,b,c,d,e\n1,2,3,4,5\n\"x\ny\",2,3,4,5\n\n1,2,3,4,5\n1,2,3,4,5,6\n",
			`parse CSV: line 7: 6 fields, header has 5`},
		{"too few fields, after a quoted line break", "a,b,c,d,e\n\"1\n2\n3\",2,3,4,5\n1,2,3,4,5\n\n1,2,3,4\n",
			`parse CSV: line 7: 4 fields, header has 5`},
		{"bare quote", "a,b\n1,x\"y\n", `parse CSV: line 2, column 4: bare " in non-quoted-field`},
		{"unterminated quote", "a,b\n1,\"x\n", `parse CSV: line 2, column 6: extraneous or missing " in quoted-field`},
		{"bare quote in header", "a\"b\n", `parse CSV: line 1, column 2: bare " in non-quoted-field`},
	})
}

func TestCSVReaderFiles(t *testing.T) {
	checkReaderFiles(t, "*.csv", csvToJSON)
}

// FuzzCSV checks that the CSV reader never panics and, when it accepts a
// body, returns valid JSON, the same each time, holding exactly the rows
// encoding/csv reads; and that writing those rows with encoding/csv and
// reading them again gives the same JSON.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"id,name\n1,Ann\n2,Bob\n",
		"\ufeffa,b\r\n\"x, \"\"y\"\"\",\"1\r\n2\"\r\n\r\n",
		"a\n\n\"\"\n",
		"a,b\n1\n",
		"a,a\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := convertChecked(t, csvToJSON, body)
		if err != nil {
			return
		}
		var rows []map[string]string
		if err := json.Unmarshal(got, &rows); err != nil {
			t.Fatalf("csvToJSON(%q) = %q: %v", body, got, err)
		}
		records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, utf8BOM))).ReadAll()
		if err != nil {
			t.Fatalf("encoding/csv refuses %q, which csvToJSON accepts: %v", body, err)
		}
		for _, r := range records {
			for _, cell := range r {
				if !utf8.ValidString(cell) {
					t.Fatalf("csvToJSON(%q) accepts the invalid UTF-8 of %q", body, cell)
				}
			}
		}
		if len(records) == 0 {
			if len(rows) != 0 {
				t.Fatalf("csvToJSON(%q) = %s, want []", body, got)
			}
			return
		}
		header := records[0]
		if len(rows) != len(records)-1 {
			t.Fatalf("csvToJSON(%q): %d rows, want %d", body, len(rows), len(records)-1)
		}
		for i, row := range rows {
			if want := rowOf(header, records[i+1]); !reflect.DeepEqual(row, want) {
				t.Fatalf("csvToJSON(%q) row %d = %v, want %v", body, i, row, want)
			}
		}
		// Round trip, but not of a cell with a CR: encoding/csv writes one
		// followed by LF as it is and reads it back as a lone LF.
		if strings.Contains(fmt.Sprint(records), "\r") {
			return
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		for _, r := range records {
			if len(r) == 1 && r[0] == "" {
				// encoding/csv would write a blank line, which readers skip.
				b.WriteString("\"\"\n")
				continue
			}
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
			w.Flush()
		}
		written, err := csvToJSON(b.Bytes())
		if err != nil {
			t.Fatalf("csvToJSON of the rewritten %q: %v", b.Bytes(), err)
		}
		if !bytes.Equal(written, got) {
			t.Fatalf("round trip of %q through %q: %s, want %s", body, b.Bytes(), written, got)
		}
	})
}

// rowOf is the row JSON decodes to.
func rowOf(header, record []string) map[string]string {
	row := make(map[string]string, len(header))
	for i, h := range header {
		row[string([]rune(h))] = string([]rune(record[i]))
	}
	return row
}

// benchCSV renders an order export of n rows of about 220 bytes each.
func benchCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("id,status,customer_id,customer_name,tier,total,currency,sku,qty,updated_at,note\r\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,open,%d,\"Customer %d, Ltd.\",gold,%d.%02d,EUR,SKU-%05d,%d,2026-11-27T20:%02d:00Z,"+
			"\"handle with care; leave at the door if nobody answers, \"\"fragile\"\" stickers on both sides, call ahead; "+
			"invoice by e-mail only\"\r\n",
			i, i%977, i%977, i%500, i%100, i%10000, 1+i%7, i%60)
	}
	return b.Bytes()
}

func BenchmarkCSVToJSON(b *testing.B) {
	benchConvert(b, csvToJSON, benchCSV)
}

// TestBenchCSVShape keeps the benchmark honest: its rows are what it says.
func TestBenchCSVShape(t *testing.T) {
	body := benchCSV(1000)
	r := csv.NewReader(bytes.NewReader(body))
	n := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil || len(rec) != 11 {
			t.Fatalf("record %d: %v, %d fields", n, err, len(rec))
		}
		n++
	}
	if per := len(body) / 1000; n != 1001 || per < 200 || per > 240 {
		t.Errorf("%d records, %d bytes a row; want 1001 of about 220", n, per)
	}
}
