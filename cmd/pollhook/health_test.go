package main

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthUnreachableRedacts: the client's error quotes the URL with the
// password masked but the query intact; neither may be printed.
func TestHealthUnreachableRedacts(t *testing.T) {
	srv := httptest.NewServer(nil)
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	code, stdout, stderr := runCLI(t, "health", "--timeout", "2s", "http://probe:pa55-word@"+addr+"/readyz?token=hunter2&x=1")
	want := "pollhook health: http://" + addr + "/readyz?token=REDACTED&x=REDACTED: unreachable: Get \"http://" + addr + "/readyz?token=REDACTED&x=REDACTED\": dial tcp " + addr + ": connect: connection refused\n"
	if code != exitFailure || stdout != "" || stderr != want {
		t.Errorf("health of a closed port = %d %q %q, want %d %q", code, stdout, stderr, exitFailure, want)
	}
}
