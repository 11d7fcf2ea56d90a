package loadkit

import (
	"flag"
	"io"
	"reflect"
	"testing"
)

func TestEnvFlag(t *testing.T) {
	var env []string
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var((*EnvFlag)(&env), "env", "")
	if err := fs.Parse([]string{"--env", "GOMAXPROCS=1", "--env", "GODEBUG=gctrace=1,madvdontneed=1", "--env", "EMPTY="}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"GOMAXPROCS=1", "GODEBUG=gctrace=1,madvdontneed=1", "EMPTY="}; !reflect.DeepEqual(env, want) {
		t.Errorf("env %q, want %q", env, want)
	}
	if got := (*EnvFlag)(&env).String(); got != "GOMAXPROCS=1 GODEBUG=gctrace=1,madvdontneed=1 EMPTY=" {
		t.Errorf("String %q", got)
	}
	for _, bad := range []string{"GOMAXPROCS", "=1"} {
		err := fs.Parse([]string{"--env", bad})
		if want := `invalid value "` + bad + `" for flag -env: "` + bad + `" is not KEY=VALUE`; errString(err) != want {
			t.Errorf("--env %s: %v, want %s", bad, err, want)
		}
	}
}
