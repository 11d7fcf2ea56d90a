package config

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// LoadServer reads only the server section of the configuration file at
// path, for the commands that talk to a running pollhook: they need its
// listen address and admin token, nothing else. The other sections are not
// decoded, so their ${VAR}s (destination secrets, source credentials) need
// not be set in the operator's shell, and a file being edited elsewhere
// still serves.
func LoadServer(path string) (*Server, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseServer(path, data, os.LookupEnv)
}

// ParseServer is Parse for the server section alone: the same expansion,
// admin_token_file reading, defaults and validation, and errors of the same
// form (an Errors).
func ParseServer(filename string, data []byte, lookupEnv func(string) (string, bool)) (*Server, error) {
	c, t, err := decode(filename, data, lookupEnv, serverOnly)
	if err != nil {
		return nil, err
	}
	readSecretFile(t, "server", "admin_token", &c.Server.AdminToken, c.Server.AdminTokenFile, filepath.Dir(filename))
	def(t, "server.listen", &c.Server.Listen, defaultListen)
	validator{c: c, t: t}.server()
	if len(t.errs) > 0 {
		sortErrors(t.errs)
		return nil, t.errs
	}
	return &c.Server, nil
}

// serverOnly keeps the server key of the top mapping; a top node of
// another kind is kept whole, for the decoder to report.
func serverOnly(doc *yaml.Node) *yaml.Node {
	if doc.Kind != yaml.MappingNode {
		return doc
	}
	out := *doc
	out.Content = nil
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if k := doc.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "server" {
			out.Content = append(out.Content, k, doc.Content[i+1])
		}
	}
	return &out
}
