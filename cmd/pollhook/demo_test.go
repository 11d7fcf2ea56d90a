package main

import (
	"strings"
	"testing"
)

// TestDemo runs the demo as a newcomer would, only faster, and checks that
// every kind of event arrives at the built-in receiver with a valid signature.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs for several seconds")
	}
	code, stdout, stderr := runCLI(t, "demo", "--duration", "8s", "--change-every", "1s")
	if code != exitOK {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"pollhook demo\n",
		"item.updated  key=1001  webhook-id=evt_",
		"item.created  key=1004  webhook-id=evt_",
		"item.deleted  key=1001  webhook-id=evt_",
		`patch:  [{"op":"replace","path":"/customer/tier","value":"gold"}]`,
		"signature ok",
		"While it runs, try the admin commands in another terminal:\n  pollhook destinations list --config ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "SIGNATURE INVALID") {
		t.Errorf("demo receiver saw an invalid signature:\n%s", stdout)
	}
	if stderr != "" {
		t.Errorf("demo logged warnings or errors:\n%s", stderr)
	}
}
