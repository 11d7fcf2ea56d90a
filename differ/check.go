package differ

import (
	"errors"
	"strings"
)

// CheckWhen compiles a when: condition and returns nil, or its problem as
// one line ending with the position inside the condition ("(1:14)"), for
// the config loader to report against the file.
func CheckWhen(src string) error {
	_, err := compileWhen(src)
	var we *whenError
	if errors.As(err, &we) {
		return errors.New(we.detail())
	}
	return err
}

// CheckTransform compiles a transform: jq expression and returns nil, or
// its problem as one line.
func CheckTransform(src string) error {
	_, err := compileTransform(src)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "transform: "))
	}
	return nil
}
