package config

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// redacted replaces a secret wherever the configuration is printed.
const redacted = "<secret>"

// String returns "<secret>", or "" when no secret is set, so that a dump
// still tells a missing secret from a present one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return s.String() }

// Format makes every fmt verb (%s, %q, %x, %v, %+v, %#v) print what String does.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// MarshalText keeps text encoders (and slog's text handler) from printing the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON keeps json.Marshal from printing the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML keeps yaml.Marshal from printing the secret.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Headers are HTTP header names and values. Values are plain strings in
// code, but the values of sensitive headers (credentials, cookies, API keys)
// print as "<secret>" through fmt, JSON and YAML.
type Headers map[string]string

// Format prints the headers with sensitive values redacted.
func (h Headers) Format(f fmt.State, verb rune) {
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), h.redacted())
}

// MarshalJSON encodes the headers with sensitive values redacted.
func (h Headers) MarshalJSON() ([]byte, error) { return json.Marshal(h.redacted()) }

// MarshalYAML encodes the headers with sensitive values redacted.
func (h Headers) MarshalYAML() (any, error) { return h.redacted(), nil }

func (h Headers) redacted() map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		if sensitiveHeader(k) && v != "" {
			v = redacted
		}
		out[k] = v
	}
	return out
}

// sensitiveHeader reports whether a header's value is likely a credential.
// It errs on the side of hiding: an Idempotency-Key is hidden too.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"auth", "cookie", "token", "key", "secret", "pass"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}
