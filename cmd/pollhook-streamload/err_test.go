package main

// errString is err's message, "" for nil, so that a table can pin errors
// by their text.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
