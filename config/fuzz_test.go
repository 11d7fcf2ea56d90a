package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, and must
// return either a Config that dumps, or a non-empty Errors and no Config.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("../testdata/config/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, "../config.example.yaml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("jobs: &a [*a]\n"))
	f.Add([]byte("a: &a {<<: *a}\n"))
	f.Add([]byte("jobs: [{key: [a, b], events: ~, guard: {max_deleted_ratio: .nan}}]\n"))
	env := mapEnv(testEnv)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, env)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 || c != nil {
				t.Fatalf("Parse returned %T %v with Config %v", err, err, c != nil)
			}
			for _, e := range es {
				if e.Line < 1 || e.Msg == "" {
					t.Fatalf("unpositioned error: %#v", e)
				}
			}
			return
		}
		if c == nil {
			t.Fatal("nil Config without an error")
		}
		if _, err := c.Redacted(); err != nil {
			t.Fatalf("Redacted: %v", err)
		}
	})
}
