package config

import (
	"testing"
	"time"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"512KiB", 512 << 10, true},
		{"10MiB", 10 << 20, true},
		{"10 MiB", 10 << 20, true},
		{"10mib", 10 << 20, true},
		{"1MB", 1_000_000, true},
		{"2GB", 2_000_000_000, true},
		{"1GiB", 1 << 30, true},
		{"1TiB", 1 << 40, true},
		{"7B", 7, true},
		{"0", 0, true},
		{"-1", -1, true}, // validation says "not positive"
		{"", 0, false},
		{"MiB", 0, false},
		{"1.5MiB", 0, false},
		{"10 megs", 0, false},
		{"9999999TiB", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{10 << 20, "10MiB"},
		{512 << 10, "512KiB"},
		{1_000_000, "1MB"},
		{1500, "1500"},
		{1024, "1KiB"},
		{0, "0"},
		{-1, "-1"},
	}
	for _, tt := range tests {
		got := tt.in.String()
		if got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		if back, err := parseByteSize(got); err != nil || back != tt.in {
			t.Errorf("%q does not parse back to %d: %d, %v", got, int64(tt.in), back, err)
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{time.Hour, "1h"},
		{72 * time.Hour, "72h"},
		{90 * time.Minute, "1h30m"},
		{10 * time.Minute, "10m"},
		{90 * time.Second, "1m30s"},
		{time.Hour + time.Second, "1h0m1s"},
		{1500 * time.Millisecond, "1.5s"},
		{0, "0s"},
		{-3 * time.Second, "-3s"},
	}
	for _, tt := range tests {
		got := Duration(tt.in).String()
		if got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := parseDuration(got); err != nil || back != tt.in {
			t.Errorf("%q does not parse back to %v: %v, %v", got, tt.in, back, err)
		}
	}
}
