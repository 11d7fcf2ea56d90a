package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestSecretsNeverPrint dumps a parsed configuration every way a program
// might (fmt verbs, JSON, YAML, slog, Redacted) and looks for each secret.
func TestSecretsNeverPrint(t *testing.T) {
	t.Chdir("..")
	c, err := parseFile(t, "valid-full.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		"admin-token-value",
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",    // orders-hook secret, from the environment
		"c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24", // rotation secret, written in the file
		"github-secret-value",                 // audit.v2 secret
		"hook-api-key-value",                  // X-Api-Key header
		"legacy-token-value",                  // Authorization header
	}
	// The secrets must really be in the Config, or this test proves nothing.
	hook := c.Destinations["orders-hook"]
	present := string(c.Server.AdminToken) + string(hook.Secret) + string(hook.Secrets[0]) +
		string(c.Destinations["audit.v2"].Secret) + hook.Headers["X-Api-Key"] + c.Jobs[0].Request.Headers["Authorization"]
	for _, s := range secrets {
		if !strings.Contains(present, s) {
			t.Fatalf("secret %q is not in the parsed Config", s)
		}
	}

	dumps := configDumps(t, c, hook, hook.Secret, hook.Headers)
	for i, dump := range dumps {
		for _, s := range secrets {
			if strings.Contains(dump, s) {
				t.Errorf("dump %d leaks %q:\n%s", i, s, dump)
			}
		}
	}
	if all := strings.Join(dumps, "\n"); !strings.Contains(all, `"Secret":"\u003csecret\u003e"`) {
		t.Errorf("JSON dump does not show the secret as <secret>:\n%s", all)
	}
}

// configDumps prints c every way a program might: fmt verbs on c and on
// each destination, job and job's credentials, JSON, YAML, Redacted, and
// slog's text and JSON handlers, which also log extra (and fmt prints it).
func configDumps(t *testing.T, c *Config, extra ...any) []string {
	t.Helper()
	dumps := []string{fmt.Sprintf("%v %+v %#v", c, *c, *c)}
	for _, x := range extra {
		dumps = append(dumps, fmt.Sprintf("%v %+v %#v %q %x", x, x, x, x, x))
	}
	for _, d := range c.Destinations {
		dumps = append(dumps, fmt.Sprintf("%v %+v %#v", d, d, d))
	}
	for _, j := range c.Jobs {
		dumps = append(dumps, fmt.Sprintf("%v %+v %#v", j, j, j))
		if a := j.Auth; a != nil {
			dumps = append(dumps, fmt.Sprintf("%v %+v %#v %v %v %v", *a, a.Basic, a.Header, a.Bearer, a.OAuth2, j.TLS))
		}
	}
	jsonDump, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	yamlDump, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	redactedDump, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "jobs", c.Jobs, "extra", extra)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c, "extra", extra)
	return append(dumps, string(jsonDump), string(yamlDump), string(redactedDump), logged.String())
}

func TestSecretFormatting(t *testing.T) {
	s := Secret("hunter2")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%10s"} {
		if got := fmt.Sprintf(verb, s); got != "<secret>" {
			t.Errorf("Sprintf(%s) = %q, want <secret>", verb, got)
		}
	}
	if got := fmt.Sprint(Secret("")); got != "" {
		t.Errorf("an empty Secret prints %q, want nothing", got)
	}
	j, _ := json.Marshal(map[string]Secret{"set": "x", "unset": ""})
	if string(j) != `{"set":"\u003csecret\u003e","unset":""}` {
		t.Errorf("json = %s", j)
	}
}

func TestHeadersRedaction(t *testing.T) {
	h := Headers{
		"Authorization":       "Bearer t0ken",
		"Proxy-Authorization": "Basic cHc=",
		"Cookie":              "session=abc",
		"X-Api-Key":           "k3y",
		"X-Auth-Token":        "tok",
		"X-Client-Secret":     "sec",
		"X-Password":          "pw",
		"Accept":              "application/json",
		"X-Empty-Token":       "",
	}
	const want = "map[Accept:application/json Authorization:<secret> Cookie:<secret> Proxy-Authorization:<secret> X-Api-Key:<secret> X-Auth-Token:<secret> X-Client-Secret:<secret> X-Empty-Token: X-Password:<secret>]"
	if got := fmt.Sprintf("%v", h); got != want {
		t.Errorf("%%v = %s\nwant  %s", got, want)
	}
	j, _ := json.Marshal(h)
	if strings.Contains(string(j), "t0ken") || !strings.Contains(string(j), `"Accept":"application/json"`) {
		t.Errorf("json = %s", j)
	}
	if h["Authorization"] != "Bearer t0ken" {
		t.Errorf("redaction changed the map itself")
	}
}

// TestRedactedURLs checks that Redacted hides URL credentials of both
// sources and destinations, which plain JSON or YAML dumps would show.
func TestRedactedURLs(t *testing.T) {
	const doc = `
destinations:
  hook: {url: "https://hook:url-password@h/in?sig=url-query-secret"}
jobs:
  - {name: j, schedule: "@hourly", request: {url: "https://reader:source-password@l/api?token=source-token"}, destinations: [hook]}
`
	c, err := Parse("c.yaml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"url-password", "url-query-secret", "source-password", "source-token"} {
		if strings.Contains(string(out), s) {
			t.Errorf("Redacted() leaks %q:\n%s", s, out)
		}
	}
	for _, s := range []string{"url: https://h/…", "url: https://l/api?token=REDACTED"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("Redacted() lacks %q:\n%s", s, out)
		}
	}
	if c.Jobs[0].Request.URL != "https://reader:source-password@l/api?token=source-token" {
		t.Errorf("Redacted() changed the Config itself: %q", c.Jobs[0].Request.URL)
	}
}
