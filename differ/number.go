package differ

import (
	"math/big"
	"strconv"
)

// maxPlainDigits is the most integer digits a number is written with
// before exponent notation takes over: enough for any 128-bit integer id,
// while 1e999999 stays short.
const maxPlainDigits = 40

// appendNumber writes the canonical spelling of the valid JSON number lit.
// The value is kept exact as a decimal: it never passes through float64,
// so large integers and long fractions survive. Equal values get equal
// spellings (1.0, 1e0 and 10e-1 are all 1; -0 is 0): plain notation for
// up to 40 integer digits and down to 0.000001 (as ECMAScript prints
// numbers, with a wider integer range), otherwise d.ddde±x.
func appendNumber(dst, lit []byte) []byte {
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	intEnd := len(lit)
	fracStart, fracEnd := len(lit), len(lit)
	expStart := len(lit)
	for i, b := range lit {
		switch b {
		case '.':
			intEnd, fracStart = i, i+1
		case 'e', 'E':
			if fracStart < len(lit) {
				fracEnd = i
			} else {
				intEnd, fracStart, fracEnd = i, i, i
			}
			expStart = i + 1
		}
	}
	// The significant digits are the integer digits followed by the
	// fraction digits, without leading and trailing zeros.
	nint := intEnd
	ndig := nint + fracEnd - fracStart
	digit := func(k int) byte {
		if k < nint {
			return lit[k]
		}
		return lit[fracStart+k-nint]
	}
	first, last := -1, -1
	for k := 0; k < ndig; k++ {
		if digit(k) != '0' {
			if first < 0 {
				first = k
			}
			last = k
		}
	}
	if first < 0 {
		return append(dst, '0')
	}
	if neg {
		dst = append(dst, '-')
	}
	sig := func(dst []byte, from, to int) []byte {
		for k := from; k < to; k++ {
			dst = append(dst, digit(first+k))
		}
		return dst
	}
	nsig := last - first + 1

	// value = 0.D × 10^point, D the significant digits.
	exp, huge := parseExponent(lit[min(expStart, len(lit)):])
	if huge != nil {
		// Only an absurd exponent lands here; it is formatted exactly.
		dst = sig(dst, 0, 1)
		if nsig > 1 {
			dst = append(dst, '.')
			dst = sig(dst, 1, nsig)
		}
		huge.Add(huge, big.NewInt(int64(nint-first-1)))
		dst = append(dst, 'e')
		if huge.Sign() >= 0 {
			dst = append(dst, '+')
		}
		return huge.Append(dst, 10)
	}
	point := exp + int64(nint-first)
	switch {
	case 0 < point && point <= maxPlainDigits:
		p := int(point)
		if nsig <= p {
			dst = sig(dst, 0, nsig)
			for k := nsig; k < p; k++ {
				dst = append(dst, '0')
			}
			return dst
		}
		dst = sig(dst, 0, p)
		dst = append(dst, '.')
		return sig(dst, p, nsig)
	case -6 < point && point <= 0:
		dst = append(dst, '0', '.')
		for k := point; k < 0; k++ {
			dst = append(dst, '0')
		}
		return sig(dst, 0, nsig)
	}
	dst = sig(dst, 0, 1)
	if nsig > 1 {
		dst = append(dst, '.')
		dst = sig(dst, 1, nsig)
	}
	dst = append(dst, 'e')
	if point-1 >= 0 {
		dst = append(dst, '+')
	}
	return strconv.AppendInt(dst, point-1, 10)
}

// parseExponent reads a signed decimal exponent. One whose magnitude could
// overflow the arithmetic above is returned as a big.Int instead.
func parseExponent(s []byte) (int64, *big.Int) {
	if len(s) == 0 {
		return 0, nil
	}
	neg := s[0] == '-'
	if s[0] == '+' || s[0] == '-' {
		s = s[1:]
	}
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	if len(s) > 15 {
		n, _ := new(big.Int).SetString(string(s), 10)
		if neg {
			n.Neg(n)
		}
		return 0, n
	}
	var n int64
	for _, b := range s {
		n = n*10 + int64(b-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}
