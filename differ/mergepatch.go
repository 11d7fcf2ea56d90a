package differ

import (
	"bytes"
	"errors"
	"fmt"
)

// mergePatch returns the RFC 7386 JSON Merge Patch turning the canonical
// value before into after, itself canonical JSON.
//
// The patch is minimal: when both sides are objects it lists only the
// members that differ (a removed member as null, a changed one as its own
// merge patch, recursively, an added one as its value) and equal values
// give {}; anything else (arrays, scalars, a change of type) is the after
// value whole, since merge patches have no finer way to say it (an equal
// value that is no object too: {} would turn it into {}). Like patch,
// it walks both canonical values side by side, without decoding them.
//
// RFC 7386 cannot set an object member to null, because null in a patch
// means "remove". An after whose object member is null, where before has
// another value there or no member at all, still gets the null in its
// patch: applying the patch removes the member (or leaves it absent)
// instead of setting it to null, the closest the format allows, and the
// patch still names every member that changed: between objects it is {}
// only when nothing did. An object value written whole (replacing a
// scalar, say) is applied as a merge into {}, which drops its null members
// too. Null
// members that were null in before already, and nulls inside arrays, are
// kept. So applying the patch to before gives after exactly, unless after
// has such a new null member outside arrays; then it gives after without
// those members (tests hold this against the RFC's algorithm).
//
// The error reports input that is not canonical JSON, which the differ's
// own values never are.
func mergePatch(before, after []byte) ([]byte, error) {
	if len(before) == 0 || len(after) == 0 {
		return nil, errors.New("merge patch: empty value")
	}
	if before[0] != '{' || after[0] != '{' {
		// Merging {} into a value that is no object would make it {}:
		// only the value itself keeps it, even when nothing changed.
		return bytes.Clone(after), nil
	}
	if bytes.Equal(before, after) {
		return []byte("{}"), nil
	}
	out, err := appendMergePatch(make([]byte, 0, len(after)/2), before, after)
	if err != nil {
		return nil, fmt.Errorf("merge patch: %w", err)
	}
	return out, nil
}

// appendMergePatch writes the merge patch between two different canonical
// objects.
func appendMergePatch(dst, a, b []byte) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	err := eachMember(a, b, func(name, va, vb []byte) error {
		if bytes.Equal(va, vb) {
			return nil
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, name...)
		dst = append(dst, ':')
		switch {
		case vb == nil:
			dst = append(dst, "null"...)
		case va != nil && va[0] == '{' && vb[0] == '{':
			var err error
			dst, err = appendMergePatch(dst, va, vb)
			return err
		default:
			dst = append(dst, vb...)
		}
		return nil
	})
	return append(dst, '}'), err
}

// errNotCanonical reports input that breaks the canonical layout.
var errNotCanonical = errors.New("not canonical JSON")

// eachMember calls f for every member name of the canonical objects a and
// b, in name order, with the quoted canonical name and the member's value
// on each side (nil on the side that lacks it). Both objects list their
// members in the same order, so one merging pass pairs them.
func eachMember(a, b []byte, f func(name, va, vb []byte) error) error {
	i, j := 1, 1 // after '{', at a member's name or at '}'
	for {
		na, nexta, err := memberAt(a, i)
		if err != nil {
			return err
		}
		nb, nextb, err := memberAt(b, j)
		if err != nil {
			return err
		}
		var c int
		switch {
		case na == nil && nb == nil:
			return nil
		case na == nil:
			c = 1
		case nb == nil:
			c = -1
		default:
			c = compareNames(na[1:len(na)-1], nb[1:len(nb)-1])
		}
		var name, va, vb []byte
		if c <= 0 {
			name, va, i = na, a[i+len(na)+1:nexta], nexta
		}
		if c >= 0 {
			name, vb, j = nb, b[j+len(nb)+1:nextb], nextb
		}
		if err := f(name, va, vb); err != nil {
			return err
		}
		// Step over the comma; the closing brace stops the next call.
		if c <= 0 && a[i] == ',' {
			if i++; a[i] != '"' {
				return errNotCanonical
			}
		}
		if c >= 0 && b[j] == ',' {
			if j++; b[j] != '"' {
				return errNotCanonical
			}
		}
	}
}

// memberAt returns the quoted name of the member at i in the canonical
// object obj and the end of its value, or a nil name at the closing brace.
func memberAt(obj []byte, i int) (name []byte, end int, err error) {
	if i >= len(obj) {
		return nil, 0, errNotCanonical
	}
	if obj[i] == '}' {
		return nil, i, nil
	}
	if obj[i] != '"' {
		return nil, 0, errNotCanonical
	}
	nameEnd := endOfString(obj, i) + 1
	if nameEnd+1 >= len(obj) || obj[nameEnd] != ':' {
		return nil, 0, errNotCanonical
	}
	end = skipCanonical(obj, nameEnd+1)
	if end == nameEnd+1 || end >= len(obj) || (obj[end] != ',' && obj[end] != '}') {
		return nil, 0, errNotCanonical
	}
	return obj[i:nameEnd], end, nil
}
