package pusher

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks reference libraries' test vector.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignStandardVector(t *testing.T) {
	for _, secret := range []string{vectorSecret, strings.TrimPrefix(vectorSecret, "whsec_")} {
		got, err := SignStandard(secret, vectorID, vectorTS, []byte(vectorBody))
		if err != nil {
			t.Fatalf("SignStandard(%q): %v", secret, err)
		}
		if got != vectorSig {
			t.Errorf("SignStandard(%q) = %q, want %q", secret, got, vectorSig)
		}
	}
}

func TestSignStandardBadSecret(t *testing.T) {
	for _, secret := range []string{"", "whsec_", "whsec_not*base64!", "whsec_abc"} {
		_, err := SignStandard(secret, vectorID, vectorTS, []byte(vectorBody))
		if !errors.Is(err, ErrBadSecret) {
			t.Errorf("SignStandard(%q) error = %v, want ErrBadSecret", secret, err)
		}
		if secret != "" && secret != "whsec_" && strings.Contains(err.Error(), strings.TrimPrefix(secret, "whsec_")) {
			t.Errorf("error %q leaks the secret", err)
		}
	}
}

func TestSignGitHub(t *testing.T) {
	// The example from GitHub's "Validating webhook deliveries" guide.
	got := SignGitHub("It's a Secret to Everybody", []byte("Hello, World!"))
	want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Errorf("SignGitHub = %q, want %q", got, want)
	}
}

func TestVerifyStandard(t *testing.T) {
	sent := time.Unix(vectorTS, 0)
	other := "whsec_" + "c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=" // base64("second-secret-for-rotation")
	otherSig, err := SignStandard(other, vectorID, vectorTS, []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	header := func(id, ts, sig string) http.Header {
		h := http.Header{}
		for k, v := range map[string]string{HeaderID: id, HeaderTimestamp: ts, HeaderSignature: sig} {
			if v != "" {
				h.Set(k, v)
			}
		}
		return h
	}
	tests := []struct {
		name      string
		secret    string
		header    http.Header
		body      string
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{"valid", vectorSecret, header(vectorID, "1614265330", vectorSig), vectorBody, 5 * time.Minute, sent, nil},
		{"valid at the tolerance edge", vectorSecret, header(vectorID, "1614265330", vectorSig), vectorBody, 5 * time.Minute, sent.Add(5 * time.Minute), nil},
		{"one of several signatures", vectorSecret, header(vectorID, "1614265330", otherSig+" "+vectorSig), vectorBody, time.Minute, sent, nil},
		{"rotated secret matches the other", other, header(vectorID, "1614265330", vectorSig+" "+otherSig), vectorBody, time.Minute, sent, nil},
		{"tolerance zero skips the clock", vectorSecret, header(vectorID, "1614265330", vectorSig), vectorBody, 0, sent.Add(24 * time.Hour), nil},
		{"missing id", vectorSecret, header("", "1614265330", vectorSig), vectorBody, time.Minute, sent, ErrMissingHeaders},
		{"missing timestamp", vectorSecret, header(vectorID, "", vectorSig), vectorBody, time.Minute, sent, ErrMissingHeaders},
		{"missing signature", vectorSecret, header(vectorID, "1614265330", ""), vectorBody, time.Minute, sent, ErrMissingHeaders},
		{"timestamp not a number", vectorSecret, header(vectorID, "yesterday", vectorSig), vectorBody, time.Minute, sent, ErrBadTimestamp},
		{"too old", vectorSecret, header(vectorID, "1614265330", vectorSig), vectorBody, 5 * time.Minute, sent.Add(5*time.Minute + time.Second), ErrTimestampTooOld},
		{"too new", vectorSecret, header(vectorID, "1614265330", vectorSig), vectorBody, 5 * time.Minute, sent.Add(-5*time.Minute - time.Second), ErrTimestampTooNew},
		{"tampered body", vectorSecret, header(vectorID, "1614265330", vectorSig), `{"test": 2432232315}`, time.Minute, sent, ErrSignatureMismatch},
		{"other id", vectorSecret, header("msg_other", "1614265330", vectorSig), vectorBody, time.Minute, sent, ErrSignatureMismatch},
		{"wrong secret", other, header(vectorID, "1614265330", vectorSig), vectorBody, time.Minute, sent, ErrSignatureMismatch},
		{"unknown version only", vectorSecret, header(vectorID, "1614265330", "v1a,"+strings.TrimPrefix(vectorSig, "v1,")), vectorBody, time.Minute, sent, ErrSignatureMismatch},
		{"garbage signature", vectorSecret, header(vectorID, "1614265330", "v1,@@@"), vectorBody, time.Minute, sent, ErrSignatureMismatch},
		{"bad secret", "whsec_***", header(vectorID, "1614265330", vectorSig), vectorBody, time.Minute, sent, ErrBadSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyStandard(tt.secret, tt.header, []byte(tt.body), tt.tolerance, tt.now)
			if !errors.Is(err, tt.want) {
				t.Errorf("VerifyStandard = %v, want %v", err, tt.want)
			}
		})
	}
}
