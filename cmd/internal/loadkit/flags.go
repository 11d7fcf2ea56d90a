package loadkit

import (
	"fmt"
	"strings"
)

// Exit codes of the measuring commands.
const (
	ExitOK         = 0
	ExitGoalMissed = 1 // the run was measured and a goal was missed
	ExitUsage      = 2 // bad flags
	ExitError      = 3 // the measurement itself could not be made
)

// EnvFlag collects repeated --env KEY=VALUE flags, added to pollhook's
// environment.
type EnvFlag []string

func (e *EnvFlag) String() string { return strings.Join(*e, " ") }

// Set adds one KEY=VALUE.
func (e *EnvFlag) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}
