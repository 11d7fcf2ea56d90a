package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseServer: only the server section is decoded, with the same
// expansion, secret file, defaults, validation and error form as Parse.
func TestParseServer(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("token-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"POLLHOOK_ADMIN_TOKEN": "token-from-env", "PORT": "9090"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	// The rest of a real file: its ${VAR}s are not set, its values not
	// valid on their own; none of it is read.
	const rest = `destinations:
  hook: {url: "${HOOK_URL}", secret: "${HOOK_SECRET}"}
jobs: 42
`
	tests := []struct {
		name   string
		yaml   string
		listen string
		token  Secret
		err    string
	}{
		{"listen and token from env", "server:\n  listen: 127.0.0.1:${PORT}\n  admin_token: ${POLLHOOK_ADMIN_TOKEN}\n" + rest,
			"127.0.0.1:9090", "token-from-env", ""},
		{"token file", rest + "server: {admin_token_file: token}\n", ":8080", "token-from-file", ""},
		{"no server section", rest, ":8080", "", ""},
		{"empty file", "", ":8080", "", ""},
		{"token default empty", "server: {admin_token: \"${MISSING:-}\"}\n", ":8080", "", ""},
		{"bad listen", "server:\n  listen: nowhere\n", "", "",
			`s.yaml:2:3: server.listen: "nowhere" is not host:port; expected e.g. ":8080" or "127.0.0.1:8080"`},
		{"unknown field", "server:\n  admin_tokn: x\n", "", "",
			"s.yaml:2:3: server.admin_tokn: unknown field; expected one of: listen, admin_token, admin_token_file"},
		{"missing variable", "server:\n  admin_token: ${ADMIN}\n", "", "",
			"s.yaml:2:3: server.admin_token: environment variable ADMIN is not set (give it a value or write ${ADMIN:-default})"},
		{"token and file", "server: {admin_token: a, admin_token_file: token}\n", "", "",
			"s.yaml:1:26: server.admin_token_file: admin_token and admin_token_file are both set; keep one"},
		{"server given twice", "server: {}\n" + rest + "server: {}\n", "", "",
			"s.yaml:5:1: server: given twice; the first is at line 1"},
		{"not a mapping", "- server\n", "", "",
			"s.yaml:1:1: expected a mapping with fields server, store, limits, destinations, jobs, streams, got a list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseServer(filepath.Join(dir, "s.yaml"), []byte(tc.yaml), lookup)
			if tc.err != "" {
				if err == nil || strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "") != tc.err {
					t.Fatalf("error %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Listen != tc.listen || s.AdminToken != tc.token {
				t.Errorf("server %q %q, want %q %q", s.Listen, string(s.AdminToken), tc.listen, string(tc.token))
			}
		})
	}
}

func TestLoadServerMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.yaml")
	_, err := LoadServer(path)
	if want := "read config: open " + path + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}
