package pusher

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the Standard Webhooks spec and of GitHub-style signing.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	HeaderGitHub    = "X-Hub-Signature-256"
)

// secretPrefix marks a Standard Webhooks secret; the rest is base64.
const secretPrefix = "whsec_"

// Errors returned by SignStandard and VerifyStandard. They never contain a
// secret or a signature, so they are safe to log.
var (
	ErrBadSecret         = errors.New("pusher: secret is not a base64 Standard Webhooks secret (whsec_...)")
	ErrMissingHeaders    = errors.New("pusher: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrBadTimestamp      = errors.New("pusher: webhook-timestamp is not unix seconds")
	ErrTimestampTooOld   = errors.New("pusher: webhook-timestamp is too old")
	ErrTimestampTooNew   = errors.New("pusher: webhook-timestamp is too new")
	ErrSignatureMismatch = errors.New("pusher: no webhook-signature matches")
)

// standardKey decodes a Standard Webhooks secret: the base64 text after the
// optional "whsec_" prefix is the HMAC key.
func standardKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(key) == 0 {
		// The decoder's error quotes the offending input, part of the secret:
		// it is dropped on purpose.
		return nil, ErrBadSecret
	}
	return key, nil
}

// SignStandard returns the Standard Webhooks signature "v1,<base64>" of one
// message: HMAC-SHA256 over "id.timestamp.body" keyed with the decoded secret.
func SignStandard(secret, id string, ts int64, body []byte) (string, error) {
	key, err := standardKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(standardMAC(key, id, ts, body)), nil
}

func standardMAC(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// SignGitHub returns the value of GitHub's X-Hub-Signature-256 header,
// "sha256=<hex>", the HMAC-SHA256 of the body keyed with the secret as given.
func SignGitHub(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyStandard checks a Standard Webhooks request as a receiver would: the
// webhook-timestamp must lie within tolerance of now (tolerance <= 0 skips
// that check) and one of the space-separated v1 signatures must match.
func VerifyStandard(secret string, header http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	id, tsText, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if tolerance > 0 {
		sent := time.Unix(ts, 0)
		if now.Sub(sent) > tolerance {
			return ErrTimestampTooOld
		}
		if sent.Sub(now) > tolerance {
			return ErrTimestampTooNew
		}
	}
	key, err := standardKey(secret)
	if err != nil {
		return err
	}
	want := standardMAC(key, id, ts, body)
	for _, sig := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue // other schemes (v1a, …) are not ours to check
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
