package config

import "testing"

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "c.yaml", Line: 14, Column: 5, Path: "jobs[0].schedule", Msg: "bad"}, "c.yaml:14:5: jobs[0].schedule: bad"},
		{Error{File: "c.yaml", Line: 7, Msg: "malformed YAML: x"}, "c.yaml:7: malformed YAML: x"},
		{Error{File: "c.yaml", Path: "jobs", Msg: "none"}, "c.yaml: jobs: none"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestErrorsSortedByPosition(t *testing.T) {
	es := Errors{
		{File: "c.yaml", Line: 9, Column: 1, Path: "b", Msg: "third"},
		{File: "c.yaml", Line: 2, Column: 7, Path: "a", Msg: "second"},
		{File: "c.yaml", Line: 2, Column: 3, Path: "z", Msg: "first"},
	}
	want := "c.yaml:2:3: z: first\nc.yaml:2:7: a: second\nc.yaml:9:1: b: third"
	if got := es.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if es[0].Msg != "third" {
		t.Errorf("Error() reordered the slice itself")
	}
}
