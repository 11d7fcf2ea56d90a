package differ

import "bytes"

// delimiter marks the bytes that may follow an array element: whitespace,
// a comma and the closing brackets.
var delimiter = [256]bool{' ': true, '\t': true, '\n': true, '\r': true, ',': true, ']': true, '}': true}

// delimited reports whether a value ending at end is followed by a byte
// that cannot continue it, so that a parser starting at its first byte
// stops exactly at end.
func delimited(b []byte, end int) bool { return end == len(b) || delimiter[b[end]] }

// scanValue returns the end of the JSON value that starts at b[i], found
// by matching brackets outside strings, without validating anything. For
// valid JSON it is exact; for anything else it is only a guess, which is
// why a value found by it counts only when its bytes are known to be
// valid. It returns i when the value does not end.
func scanValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return max(scanString(b, i), i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := scanString(b, j)
				if e < 0 {
					return i
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return i
	}
	j := i
	for j < len(b) && !delimiter[b[j]] {
		j++
	}
	return j
}

// scanString returns the end of the string whose opening quote is b[i]
// (the offset after its closing quote), or -1 when it does not end.
func scanString(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		// A quote preceded by an odd number of backslashes is escaped.
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
}
