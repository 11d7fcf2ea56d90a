package main

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fixedBench is `go test -bench` output as the plan's commands print it,
// two runs of the differ's cases so that medians are taken.
const fixedBench = `goos: linux
goarch: amd64
pkg: github.com/pollhook/pollhook/differ
cpu: AMD EPYC 7B13
BenchmarkDiff/items=1000/all-2         	    2875	    402351 ns/op	 550.12 MB/s	    456000 cpu-ns/op	  200123 B/op	     167 allocs/op
BenchmarkDiff/items=1000/all-2         	    2875	    398000 ns/op	 556.00 MB/s	    450000 cpu-ns/op	  200123 B/op	     167 allocs/op
BenchmarkDiff/items=1000/loaded-2      	     500	   2300000 ns/op	  95.00 MB/s	   2500000 cpu-ns/op	  450000 B/op	     182 allocs/op
BenchmarkDiff/items=10000/all-2        	     400	   2600000 ns/op	 850.00 MB/s	   4200000 cpu-ns/op	 2100000 B/op	    1265 allocs/op
BenchmarkDiff/items=10000/loaded-2     	      40	  26000000 ns/op	  85.00 MB/s	  26000000 cpu-ns/op	 4300000 B/op	    1280 allocs/op
BenchmarkDiff/items=100000/all-2       	      36	  31000000 ns/op	 710.00 MB/s	  45000000 cpu-ns/op	20000000 B/op	   12090 allocs/op
BenchmarkDiff/items=100000/loaded-2    	       6	 191000000 ns/op	 115.00 MB/s	 201000000 cpu-ns/op	42000000 B/op	   12100 allocs/op
PASS
ok  	github.com/pollhook/pollhook/differ	30.1s
`

// fixedDiffDocBench is BenchmarkDiffResponse's output as the plan's
// command prints it: three runs of one case (an odd median), two of
// another (the mean of the middle two), one of the others.
const fixedDiffDocBench = `goos: linux
goarch: amd64
pkg: github.com/pollhook/pollhook/differ
cpu: AMD EPYC
BenchmarkDiffResponse/items=1000/document/json-2         	     301	   3756527 ns/op	  57.88 MB/s	   3807667 cpu-ns/op	 1590696 B/op	     126 allocs/op
BenchmarkDiffResponse/items=1000/document/json-2         	     290	   3900000 ns/op	  55.75 MB/s	   3950000 cpu-ns/op	 1590700 B/op	     126 allocs/op
BenchmarkDiffResponse/items=1000/document/json-2         	     310	   3700000 ns/op	  58.76 MB/s	   3720000 cpu-ns/op	 1590690 B/op	     126 allocs/op
BenchmarkDiffResponse/items=1000/items/xml-2             	      66	  17868332 ns/op	  16.09 MB/s	  18685333 cpu-ns/op	 2268352 B/op	   66238 allocs/op
BenchmarkDiffResponse/items=10000/document/json-2        	      18	  63943700 ns/op	  34.16 MB/s	  72272667 cpu-ns/op	16652341 B/op	     245 allocs/op
BenchmarkDiffResponse/items=10000/items/xml-2            	       6	 200338837 ns/op	  14.40 MB/s	 191370333 cpu-ns/op	22963770 B/op	  661339 allocs/op
BenchmarkDiffResponse/items=100000/document/json-2       	       2	 510545034 ns/op	  42.99 MB/s	 536656000 cpu-ns/op	173781957 B/op	    1007 allocs/op
BenchmarkDiffResponse/items=100000/items/xml-2           	       1	1362908677 ns/op	  21.24 MB/s	1279668667 cpu-ns/op	231934389 B/op	 6612149 allocs/op
BenchmarkDiffResponse/items=100000/items/xml-2           	       1	1601091323 ns/op	  18.08 MB/s	1500331333 cpu-ns/op	231934411 B/op	 6612151 allocs/op
PASS
ok  	github.com/pollhook/pollhook/differ	31.4s
`

func fixedInputs(t *testing.T) *inputs {
	t.Helper()
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	diff, err := parseBench(strings.NewReader(fixedBench))
	if err != nil {
		t.Fatal(err)
	}
	diffDoc, err := parseBench(strings.NewReader(fixedDiffDocBench))
	if err != nil {
		t.Fatal(err)
	}
	p2c, err := parseBench(strings.NewReader(`BenchmarkPollToCommit/items=1000-2   20  2500000 ns/op  2.5 ms/op  3400000 cpu-ns/op  23.5 tick-peak-rss-MB  20.1 warm-up-peak-rss-MB  560000 B/op  4100 allocs/op
BenchmarkPollToCommit/items=10000-2  20  12000000 ns/op  12 ms/op  15000000 cpu-ns/op  32.4 tick-peak-rss-MB  30.6 warm-up-peak-rss-MB  5200000 B/op  40000 allocs/op
BenchmarkPollToCommit/items=100000-2  20  92000000 ns/op  92 ms/op  130000000 cpu-ns/op  122.6 tick-peak-rss-MB  123.9 warm-up-peak-rss-MB  54000000 B/op  400000 allocs/op`))
	if err != nil {
		t.Fatal(err)
	}
	deliver, err := parseBench(strings.NewReader(`BenchmarkDeliver/lanes=1-2  20000  166000 ns/op  6010 events/s
BenchmarkDeliver/lanes=1-2  20000  160000 ns/op  6250 events/s
BenchmarkDeliver/lanes=1-2  20000  170000 ns/op  5880 events/s
BenchmarkDeliver/lanes=8-2  20000  130000 ns/op  7700 events/s
BenchmarkDeliver/jobs=4,dest=1-2  20000  128000 ns/op  7800 events/s`))
	if err != nil {
		t.Fatal(err)
	}
	p50, p99 := 61.5, 412.0
	return &inputs{
		Plan: newPlan(false),
		Machine: machine{CPUModel: "AMD EPYC 7B13", Cores: 2, RAMGiB: 23.4, OS: "Debian GNU/Linux 12 (bookworm), Linux 6.1.0",
			Go: "go1.26.8", Date: at, Commit: "db80615abcde"},
		Diff:    measured[benchRuns]{At: at, Value: diff},
		DiffDoc: measured[benchRuns]{At: at.Add(time.Minute), Value: diffDoc},
		P2C:     measured[benchRuns]{At: at.Add(2 * time.Minute), Value: p2c},
		Deliver: measured[benchRuns]{At: at.Add(6 * time.Minute), Value: deliver},
		Load: measured[loadResult]{At: at.Add(4 * time.Minute), Value: loadResult{
			Jobs: 2000, Schedule: "@every 1s", Jitter: "200ms", ChangeEvery: "10s", ReadyS: 0.412, WindowS: 60.01, Polls: 120012, PollsPerS: 1999.9,
			PollsBy: map[string]float64{"changed": 12000, "unchanged": 108012}, Skipped: map[string]float64{"running": 3},
			PollP50Ms: &p50, PollP99Ms: &p99, CPUCores: 0.58, CPUPer1000: 0.291, OtherCores: 0.12, Webhooks: 12001,
			Latency: latency{Count: 12001, P50Ms: 702, P99Ms: 1480, MaxMs: 1620}, RSSMB: spread{Min: 150, Median: 171.2, Max: 180}, PeakRSSMB: 188.4,
			Gauges: map[string]float64{"go_goroutines": 6200, "go_memstats_heap_inuse_bytes": 88 << 20},
			Goals:  []goal{{"peak RSS", true, "188.4 MB, goal below 200 MB"}, {"skipped ticks (pollhook)", false, "3 skipped (running, concurrency, host_rate), goal at most 0"}},
		}},
		Latency: measured[loadResult]{At: at.Add(8 * time.Minute), Value: loadResult{
			Jobs: 100, Schedule: "@every 1s", Jitter: "0s", Latency: latency{Count: 1200, P50Ms: 540, P99Ms: 1010, MaxMs: 1030},
			RSSMB: spread{Median: 34.5}, PeakRSSMB: 36.1, Gauges: map[string]float64{"go_goroutines": 420, "go_memstats_heap_inuse_bytes": 12 << 20}, OK: true,
		}},
		Idle: measured[loadResult]{At: at.Add(10 * time.Minute), Value: loadResult{
			Jobs: 10, Schedule: "@every 10s", RSSMB: spread{Median: 19.2}, PeakRSSMB: 19.9,
			Gauges: map[string]float64{"go_goroutines": 61, "go_memstats_heap_inuse_bytes": 5 << 20}, OK: true,
		}},
		Sizes: measured[sizes]{At: at.Add(11 * time.Minute), Value: sizes{Plain: 25_912_345, Static: 18_104_000}},
		Startup: measured[startupResult]{At: at.Add(12 * time.Minute), Value: startupResult{
			Jobs: 10, FreshMs: []float64{61, 70, 65, 80, 66}, RestartMs: []float64{33, 35, 36, 34, 40},
			Fresh: spread{Min: 61, Median: 66, Max: 80}, Restart: spread{Min: 33, Median: 35, Max: 40},
		}},
		Stream: measured[[]keyValue]{At: at.Add(13 * time.Minute), Err: "cmd/pollhook-streamload is not in this tree"},
	}
}

// TestRender pins the whole report rendered from fixed inputs
// (go test -run TestRender -update rewrites the golden file).
func TestRender(t *testing.T) {
	for _, tt := range []struct {
		name   string
		golden string
		change func(*inputs)
	}{
		{"full", "report.golden.md", func(*inputs) {}},
		{"quick, sections not measured", "report-quick.golden.md", func(in *inputs) {
			in.Plan = newPlan(true)
			in.Load = measured[loadResult]{At: in.Load.At, Err: "pollhook-load: exit status 3: pollhook exited (exit status 1)"}
			in.Deliver = measured[benchRuns]{At: in.Deliver.At, Err: "go test: exit status 1: FAIL github.com/pollhook/pollhook/pusher [build failed]"}
			in.Stream = measured[[]keyValue]{At: in.Stream.At, Value: []keyValue{{"clients", "1000"}, {"latency.p99_ms", "12.5"}, {"ok", "true"}}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := fixedInputs(t)
			tt.change(in)
			got := render(in)
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("render differs from %s (rerun with -update and review the diff):\n%s", path, got)
			}
		})
	}
}

func TestParseBench(t *testing.T) {
	b, err := parseBench(strings.NewReader(fixedBench + "BenchmarkOdd 12 notanumber\nBenchmarkX-2 --- FAIL\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 6 || len(b["BenchmarkDiff/items=1000/all"]) != 2 {
		t.Fatalf("parsed %d benchmarks: %v", len(b), b)
	}
	if got := b["BenchmarkDiff/items=100000/loaded"][0]; !reflect.DeepEqual(got, map[string]float64{
		"ns/op": 191000000, "MB/s": 115, "cpu-ns/op": 201000000, "B/op": 42000000, "allocs/op": 12100}) {
		t.Errorf("100000/loaded = %v", got)
	}
	if v, ok := b.median("BenchmarkDiff/items=1000/all", "ns/op"); !ok || v != 400175.5 {
		t.Errorf("median of two runs = %v, %t; want their mean 400175.5", v, ok)
	}
	if _, ok := b.median("BenchmarkDiff/items=1000/all", "events/s"); ok {
		t.Error("median of a unit never reported: want none")
	}
}

// TestDiffDocRows pins the document mode and XML table: names with a
// slash in the case parsed whole, medians over runs, and "-" for a case
// that did not run.
func TestDiffDocRows(t *testing.T) {
	b, err := parseBench(strings.NewReader(fixedDiffDocBench))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 6 || len(b["BenchmarkDiffResponse/items=1000/document/json"]) != 3 || len(b["BenchmarkDiffResponse/items=100000/items/xml"]) != 2 {
		t.Fatalf("parsed %d benchmarks: %v", len(b), b)
	}
	if got := b["BenchmarkDiffResponse/items=100000/items/xml"][1]; !reflect.DeepEqual(got, map[string]float64{
		"ns/op": 1601091323, "MB/s": 18.08, "cpu-ns/op": 1500331333, "B/op": 231934411, "allocs/op": 6612151}) {
		t.Errorf("100000/items/xml, second run = %v", got)
	}
	want := [][]string{
		{"1,000 items, document mode, JSON", "3.76 ms", "3.81 ms", "58", "1.6 MB", "126"},
		{"1,000 items, items mode, XML", "17.9 ms", "18.7 ms", "16", "2.3 MB", "66,238"},
		{"10,000 items, document mode, JSON", "63.9 ms", "72.3 ms", "34", "16.7 MB", "245"},
		{"10,000 items, items mode, XML", "200 ms", "191 ms", "14", "23.0 MB", "661,339"},
		{"100,000 items, document mode, JSON", "511 ms", "537 ms", "43", "173.8 MB", "1,007"},
		{"100,000 items, items mode, XML", "1.48 s", "1.39 s", "20", "231.9 MB", "6,612,150"},
	}
	if got := diffDocRows(b); !reflect.DeepEqual(got, want) {
		t.Errorf("diffDocRows =\n%q\nwant\n%q", got, want)
	}
	delete(b, "BenchmarkDiffResponse/items=10000/items/xml")
	if got, want := diffDocRows(b)[3], []string{"10,000 items, items mode, XML", "-", "-", "-", "-", "-"}; !reflect.DeepEqual(got, want) {
		t.Errorf("row of a case that did not run = %q, want %q", got, want)
	}
}

func TestFlatten(t *testing.T) {
	got, err := flatten([]byte(`{"clients":1000,"latency":{"p50_ms":1.5,"p99_ms":12,"cores":0.20093922317542984,"big":1e21},"ok":true,"errors":null,"by":[{"n":"a"},2],"name":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []keyValue{{"clients", "1000"}, {"latency.p50_ms", "1.5"}, {"latency.p99_ms", "12"}, {"latency.cores", "0.201"}, {"latency.big", "1000000000000000000000"}, {"ok", "true"}, {"errors", "null"}, {"by.0.n", "a"}, {"by.1", "2"}, {"name", "x"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("flatten = %v, want %v", got, want)
	}
	if _, err := flatten([]byte(`{"a":`)); err == nil {
		t.Error("truncated JSON: want an error")
	}
}

func TestLastJSONLine(t *testing.T) {
	out := []byte("table line\n{\"a\":1}\nmore\n{\"b\":2}\n{not json\n")
	if got := string(lastJSONLine(out)); got != `{"b":2}` {
		t.Errorf("lastJSONLine = %q", got)
	}
	if lastJSONLine([]byte("no json\n")) != nil {
		t.Error("want none")
	}
}

func TestShell(t *testing.T) {
	for _, tt := range []struct {
		words []string
		want  string
	}{
		{[]string{"go", "test", "-run", "^$", "./differ/"}, `go test -run '^$' ./differ/`},
		{[]string{"CGO_ENABLED=0", "go", "build", "-ldflags=-s -w"}, `CGO_ENABLED=0 go build '-ldflags=-s -w'`},
		{[]string{"echo", "it's", ""}, `echo 'it'\''s' ''`},
	} {
		if got := shell(tt.words...); got != tt.want {
			t.Errorf("shell(%q) = %s, want %s", tt.words, got, tt.want)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 120012: "120,012", -1234567: "-1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %s, want %s", n, got, want)
		}
	}
}

// TestStreamSummary pins how the streams section words the figures of
// pollhook-streamload's report, and that a report without them is shown
// as it came.
func TestStreamSummary(t *testing.T) {
	kvs := []keyValue{
		{"load.clients", "1000"}, {"load.events_per_s", "100"}, {"load.duration_s", "60"},
		{"expected_per_client", "6000"}, {"received", "6000000"}, {"clients.complete", "1000"},
		{"clients.dropped", "0"}, {"missed", "0"}, {"duplicates", "0"}, {"out_of_order", "0"},
		{"latency_stamp_ms.p50", "76.287"}, {"latency_stamp_ms.p99", "191.487"},
		{"latency_poll_ms.p50", "115.199"}, {"latency_poll_ms.p99", "218.111"},
		{"latency_change_ms.p50", "618.495"}, {"latency_change_ms.p99", "1138.687"},
		{"pollhook.cpu_cores", "0.191"}, {"pollhook.cpu_s", "11.51"},
		{"pollhook.idle_rss_mb", "20.336"}, {"pollhook.open_rss_mb", "45.711"}, {"pollhook.peak_rss_mb", "89.297"},
		{"tool_cpu_cores", "0.184"},
	}
	want := [][]string{
		{"clients", "1,000 SSE clients: 1,000 received everything, 0 dropped"},
		{"events", "100/s for 60 s, 6,000 per client, 6,000,000 received in all"},
		{"missed / duplicated / out of order", "0 / 0 / 0"},
		{"latency, commit (envelope timestamp) → client", "p50 76 ms, p99 191 ms"},
		{"latency, poll that saw the change → client", "p50 115 ms, p99 218 ms"},
		{"latency, source change → client (includes waiting for the next 1 s poll)", "p50 618 ms, p99 1139 ms"},
		{"pollhook CPU", "0.19 cores (11.5 CPU-s)"},
		{"pollhook RSS", "idle 20 MB, with the streams open 46 MB, peak (VmHWM) 89 MB"},
		{"the clients' own CPU (the tool)", "0.18 cores"},
	}
	if got := streamSummary(kvs); !reflect.DeepEqual(got, want) {
		t.Errorf("streamSummary =\n%q\nwant\n%q", got, want)
	}
	if got := streamSummary(kvs[1:]); got != nil {
		t.Errorf("streamSummary without load.clients = %q, want nil", got)
	}
}
