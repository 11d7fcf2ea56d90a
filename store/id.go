package store

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// crockford is Crockford's base32 alphabet (no I, L, O, U), whose byte order
// matches its value order, so ids compare as strings in time order.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idGen makes event ids in the ULID layout: 48 bits of Unix milliseconds and
// 80 random bits, 26 base32 characters after "evt_". Within one millisecond
// (a large commit assigns thousands of ids in one) the random part is
// incremented instead of redrawn, so ids from one process are strictly
// increasing and sort in the order they were assigned.
type idGen struct {
	mu     sync.Mutex
	ms     uint64
	hi     uint16 // top 16 of the 80 random bits
	lo     uint64 // low 64 of the 80 random bits
	random func(b []byte)
}

func newIDGen() *idGen {
	return &idGen{random: func(b []byte) { _, _ = rand.Read(b) }} // crypto/rand.Read never fails
}

func (g *idGen) next(now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := uint64(now.UnixMilli()) & (1<<48 - 1)
	if ms > g.ms {
		var b [10]byte
		g.random(b[:])
		g.ms, g.hi, g.lo = ms, binary.BigEndian.Uint16(b[:2]), binary.BigEndian.Uint64(b[2:])
	} else {
		// Same millisecond, or the clock stepped back: keep the last
		// timestamp and count up so that ids never go backwards.
		g.lo++
		if g.lo == 0 {
			g.hi++
			if g.hi == 0 {
				g.ms++ // 2^80 ids in one millisecond: borrow the next one
			}
		}
	}
	return encodeID(g.ms, g.hi, g.lo)
}

// encodeID writes the 128-bit value ms(48) hi(16) lo(64) as 26 base32
// characters, most significant first (the first character carries 3 bits).
func encodeID(ms uint64, hi uint16, lo uint64) string {
	top := ms<<16 | uint64(hi) // upper 64 bits of the 128
	var out [4 + 26]byte
	copy(out[:], "evt_")
	for i := 25; i >= 0; i-- {
		out[4+i] = crockford[lo&31]
		lo = lo>>5 | top<<59
		top >>= 5
	}
	return string(out[:])
}
