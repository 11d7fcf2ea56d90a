package main

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestFlatOf(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		flat   bool
		middle float64
		last   float64
	}{
		// The first third (the climb to the working set) is left out.
		{"climb then flat", []float64{10, 40, 50, 50, 52, 50}, true, 50, 51},
		{"within tolerance", []float64{0, 0, 0, 100, 100, 100, 109, 110, 108}, true, 100, 109},
		{"growing", []float64{0, 0, 0, 100, 100, 100, 112, 111, 113}, false, 100, 112},
		{"falling is flat", []float64{90, 90, 90, 80, 80, 80, 60, 60, 60}, true, 80, 60},
		{"too few samples", []float64{1, 1}, false, 0, 0},
	}
	for _, tt := range tests {
		fl := flatOf(tt.values, 0.10)
		if fl.Flat != tt.flat || fl.MiddleMean != tt.middle || fl.LastMean != tt.last {
			t.Errorf("%s: flatOf(%v) = %+v, want flat %t, middle %g, last %g", tt.name, tt.values, fl, tt.flat, tt.middle, tt.last)
		}
	}
	if fl := flatOf([]float64{0, 0, 0, 100, 100, 100, 110, 110, 110}, 0.10); math.Abs(fl.Change-0.1) > 1e-12 || !fl.Flat {
		t.Errorf("10%% growth at a 10%% tolerance: %+v, want flat, change 0.1", fl)
	}
}

func TestSoakReport(t *testing.T) {
	samples := func(rss ...float64) []soakSample {
		var out []soakSample
		for i, v := range rss {
			out = append(out, soakSample{ElapsedS: float64(10 * (i + 1)), RSSMB: v, Goroutines: 1000})
		}
		return out
	}
	tests := []struct {
		name string
		r    soakReport
		ok   bool
		text string
	}{
		{"flat", soakReport{Samples: samples(40, 50, 50, 50, 51, 50)}, true, "verdict: RSS         flat: mean of the last third 50.5 MB against 50.0 MB in the middle third (+1.0%, tolerance +10%)"},
		{"RSS growing", soakReport{Samples: samples(40, 50, 50, 50, 60, 61)}, false, "verdict: RSS         GROWING: mean of the last third 60.5 MB"},
		{"failed polls", soakReport{Samples: samples(50, 50, 50), PollsBy: map[string]float64{"failed": 1}}, false, "verdict: goroutines  flat"},
		{"killed", soakReport{Samples: samples(50, 50, 50), Shutdown: shutdown{Killed: true, ExitCode: -1}}, false, "(killed: true)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.judge(0.10)
			if r.OK != tt.ok {
				t.Errorf("ok %t, want %t: %+v", r.OK, tt.ok, r)
			}
			var b bytes.Buffer
			if err := r.print(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tt.text) {
				t.Errorf("report lacks %q:\n%s", tt.text, b.String())
			}
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			var back soakReport
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &back); err != nil || !reflect.DeepEqual(back.Samples, r.Samples) || back.OK != r.OK {
				t.Errorf("last line does not decode to the report: %v\n%s", err, lines[len(lines)-1])
			}
		})
	}
}
