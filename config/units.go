package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// String renders the duration as Go does, without zero trailing units
// ("1h" rather than "1h0m0s"), so dumps read like the file.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText renders the duration as text, so JSON and YAML dumps show
// "10s" rather than a count of nanoseconds.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// parseDuration accepts Go duration syntax. A bare number is rejected
// because its unit would be a guess.
func parseDuration(s string) (time.Duration, error) {
	return time.ParseDuration(strings.TrimSpace(s))
}

// Byte-size units. Both the decimal (KB = 1000) and the binary (KiB = 1024)
// families are accepted, as written, so "1MB" never silently means 1MiB.
var byteUnits = []struct {
	name string
	size int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3},
	{"B", 1},
}

// String renders the size in the largest unit that divides it exactly,
// preferring binary units: 10485760 → "10MiB", 1000000 → "1MB", 1500 → "1500".
func (b ByteSize) String() string {
	n := int64(b)
	if n != 0 {
		for _, u := range byteUnits[:len(byteUnits)-1] {
			if n%u.size == 0 {
				return strconv.FormatInt(n/u.size, 10) + u.name
			}
		}
	}
	return strconv.FormatInt(n, 10)
}

// MarshalText renders the size as its String, which parses back to the same value.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// parseByteSize reads a whole number of bytes with an optional unit
// ("1048576", "512KiB", "10 MiB", "1MB"). Units are case-insensitive; the i
// marks the binary family. A sign is accepted so that "-1"
// is reported by validation as not positive rather than as unreadable.
func parseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	end := 0
	if strings.HasPrefix(s, "-") {
		end = 1
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		return 0, err
	}
	unit := strings.TrimSpace(s[end:])
	if unit == "" {
		return ByteSize(n), nil
	}
	for _, u := range byteUnits {
		if strings.EqualFold(unit, u.name) {
			if n > math.MaxInt64/u.size || n < math.MinInt64/u.size {
				return 0, errors.New("size out of range")
			}
			return ByteSize(n * u.size), nil
		}
	}
	return 0, errors.New("unknown unit")
}
