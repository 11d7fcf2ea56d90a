package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// source is the part of a Job that says how its source is treated.
type source struct {
	Auth       *Auth
	TLS        *TLS
	Pagination *Pagination
	Backoff    Backoff
	Jitter     Duration
	Notify     bool
	DownAfter  int
}

func sourceOf(j *Job) source {
	return source{j.Auth, j.TLS, j.Pagination, j.Backoff, j.Jitter, j.NotifySourceHealth, j.DownAfter}
}

// TestSourceOptions checks every job of valid-source.yaml field by field:
// each auth kind with its secret read from the environment or a file
// (trailing newline dropped), TLS files resolved against the config
// file's directory, every pagination type with max_pages defaulted, and
// backoff and health settings with their defaults.
func TestSourceOptions(t *testing.T) {
	t.Chdir("..")
	c, err := parseFile(t, "valid-source.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	wantLimits := Limits{MaxConcurrentPolls: 16, PerHost: &HostRate{Rate: 2.5, Burst: 4}}
	if !reflect.DeepEqual(c.Limits, wantLimits) {
		t.Errorf("limits = %+v (per host %+v), want %+v", c.Limits, c.Limits.PerHost, wantLimits)
	}
	certs := filepath.Join("testdata", "config", "certs")
	backoff := func(d time.Duration) Backoff { return Backoff{Max: Duration(d)} }
	tests := []struct {
		job  string
		want source
	}{
		{"bearer", source{
			Auth:       &Auth{Bearer: "legacy-token-value"},
			TLS:        &TLS{CAFile: filepath.Join(certs, "ca.pem"), CertFile: filepath.Join(certs, "client.pem"), KeyFile: filepath.Join(certs, "client-key.pem")},
			Pagination: &Pagination{Type: "link", MaxPages: 100},
			Backoff:    backoff(10 * time.Minute), Jitter: Duration(3 * time.Second), Notify: true, DownAfter: 5,
		}},
		{"bearer-file", source{
			Auth:       &Auth{Bearer: "bearer-token-from-file", BearerFile: "secrets/legacy-token"},
			Pagination: &Pagination{Type: "cursor", CursorPath: "meta.next", Param: "cursor", MaxPages: 20},
			Backoff:    backoff(50 * time.Minute), Notify: true, DownAfter: 3,
		}},
		{"basic", source{
			Auth:       &Auth{Basic: &BasicAuth{Username: "reader", Password: "basic-password-from-file", PasswordFile: "secrets/basic-password"}},
			TLS:        &TLS{InsecureSkipVerify: true},
			Pagination: &Pagination{Type: "page", Param: "page", SizeParam: "per_page", Size: 100, MaxPages: 100},
			Backoff:    backoff(10 * time.Hour), DownAfter: 3,
		}},
		{"api-key", source{
			Auth:       &Auth{Header: &HeaderAuth{Name: "X-Api-Key", Value: "api-key-from-file", ValueFile: "secrets/api-key"}},
			Pagination: &Pagination{Type: "offset", Param: "offset", Size: 50, MaxPages: 100},
			Backoff:    backoff(10 * time.Minute), DownAfter: 3,
		}},
		{"oauth2", source{
			Auth: &Auth{OAuth2: &OAuth2{TokenURL: "https://auth.example.com/oauth/token?audience=legacy", ClientID: "pollhook",
				ClientSecret: "oauth-client-secret-value", Scopes: []string{"shipments.read", "stock.read"}}},
			Backoff: backoff(10 * time.Minute), DownAfter: 3,
		}},
		{"key-as-user", source{
			Auth:    &Auth{Basic: &BasicAuth{Username: "api-key-as-user"}},
			Backoff: backoff(10 * time.Minute), DownAfter: 3,
		}},
		{"oauth2-file", source{
			Auth: &Auth{OAuth2: &OAuth2{TokenURL: "https://auth.example.com/token", ClientID: "c",
				ClientSecret: "oauth-secret-from-file", ClientSecretFile: "secrets/oauth-client-secret"}},
			Backoff: backoff(10 * time.Minute), DownAfter: 3,
		}},
		{"header-inline", source{
			Auth:    &Auth{Header: &HeaderAuth{Name: "Api-Token", Value: "hook-api-key-value"}},
			Backoff: backoff(10 * time.Minute), DownAfter: 3,
		}},
	}
	if len(tests) != len(c.Jobs) {
		t.Errorf("%d jobs checked, the file has %d", len(tests), len(c.Jobs))
	}
	for _, tt := range tests {
		t.Run(tt.job, func(t *testing.T) {
			j := c.Job(tt.job)
			if j == nil {
				t.Fatalf("no job %q", tt.job)
			}
			// Secrets print as <secret>, so compare them as strings.
			got, want := fmt.Sprintf("%s", dumpSource(sourceOf(j))), fmt.Sprintf("%s", dumpSource(tt.want))
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// dumpSource renders s with its secrets in clear, for comparisons.
func dumpSource(s source) string {
	var b strings.Builder
	if a := s.Auth; a != nil {
		fmt.Fprintf(&b, "bearer=%q bearer_file=%q ", string(a.Bearer), a.BearerFile)
		if p := a.Basic; p != nil {
			fmt.Fprintf(&b, "basic={%q %q %q} ", p.Username, string(p.Password), p.PasswordFile)
		}
		if h := a.Header; h != nil {
			fmt.Fprintf(&b, "header={%q %q %q} ", h.Name, string(h.Value), h.ValueFile)
		}
		if o := a.OAuth2; o != nil {
			fmt.Fprintf(&b, "oauth2={%q %q %q %q %q} ", o.TokenURL, o.ClientID, string(o.ClientSecret), o.ClientSecretFile, o.Scopes)
		}
	}
	if s.TLS != nil {
		fmt.Fprintf(&b, "tls=%+v ", *s.TLS)
	}
	if s.Pagination != nil {
		fmt.Fprintf(&b, "pagination=%+v ", *s.Pagination)
	}
	fmt.Fprintf(&b, "backoff=%s jitter=%s notify=%v down_after=%d", s.Backoff.Max, s.Jitter, s.Notify, s.DownAfter)
	return b.String()
}

// TestSourceDefaults checks the defaults of the source options, the
// backoff ceiling above all: ten times the job's interval, which for a
// cron expression is the time between its next two firings.
func TestSourceDefaults(t *testing.T) {
	tests := []struct {
		name, limits, job string
		wantLimits        Limits
		wantBackoff       time.Duration
		wantPagination    *Pagination
		wantDownAfter     int
	}{
		{"nothing set", "", `schedule: "@every 30s"`, Limits{}, 5 * time.Minute, nil, 3},
		{"every 1s", "", `schedule: "@every 1s"`, Limits{}, 10 * time.Second, nil, 3},
		{"five-field cron", "", `schedule: "*/5 * * * *"`, Limits{}, 50 * time.Minute, nil, 3},
		{"cron with seconds", "", `schedule: "*/10 * * * * *"`, Limits{}, 100 * time.Second, nil, 3},
		{"hourly in a zone", "", `schedule: "CRON_TZ=Europe/Berlin @hourly"`, Limits{}, 10 * time.Hour, nil, 3},
		{"backoff written out", "", `schedule: "@hourly", backoff: {max: 90m}`, Limits{}, 90 * time.Minute, nil, 3},
		{"max_pages", "", `schedule: "@hourly", items: $, pagination: {type: link}`, Limits{}, 10 * time.Hour, &Pagination{Type: "link", MaxPages: 100}, 3},
		{"down_after with notify", "", `schedule: "@hourly", notify_source_health: true, down_after: 1`, Limits{}, 10 * time.Hour, nil, 1},
		{"burst", "limits: {per_host: {rate: 0.5}}", `schedule: "@hourly"`, Limits{PerHost: &HostRate{Rate: 0.5, Burst: 1}}, 10 * time.Hour, nil, 3},
		{"concurrency cap alone", "limits: {max_concurrent_polls: 1}", `schedule: "@hourly"`, Limits{MaxConcurrentPolls: 1}, 10 * time.Hour, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.limits + "\ndestinations: {hook: {url: \"https://h/1\"}}\n" +
				"jobs:\n  - {name: j, request: {url: \"http://l/1\"}, destinations: [hook], " + tt.job + "}\n"
			c, err := Parse("c.yaml", []byte(doc), nil)
			if err != nil {
				t.Fatal(err)
			}
			j := c.Jobs[0]
			if !reflect.DeepEqual(c.Limits, tt.wantLimits) {
				t.Errorf("limits = %+v, want %+v", c.Limits, tt.wantLimits)
			}
			if got := time.Duration(j.Backoff.Max); got != tt.wantBackoff {
				t.Errorf("backoff.max = %s, want %s", got, tt.wantBackoff)
			}
			if !reflect.DeepEqual(j.Pagination, tt.wantPagination) {
				t.Errorf("pagination = %+v, want %+v", j.Pagination, tt.wantPagination)
			}
			if j.DownAfter != tt.wantDownAfter {
				t.Errorf("down_after = %d, want %d", j.DownAfter, tt.wantDownAfter)
			}
			if j.Auth != nil || j.TLS != nil {
				t.Errorf("auth %+v and tls %+v, want none", j.Auth, j.TLS)
			}
		})
	}
}

// TestSourceSecretsNeverPrint dumps valid-source.yaml every way a program
// might and looks for each credential.
func TestSourceSecretsNeverPrint(t *testing.T) {
	t.Chdir("..")
	c, err := parseFile(t, "valid-source.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		"legacy-token-value", "bearer-token-from-file", "basic-password-from-file", "api-key-from-file",
		"oauth-client-secret-value", "oauth-secret-from-file", "hook-api-key-value",
	}
	var present strings.Builder
	for _, j := range c.Jobs {
		present.WriteString(dumpSource(sourceOf(j)))
	}
	for _, s := range secrets {
		if !strings.Contains(present.String(), s) {
			t.Fatalf("secret %q is not in the parsed Config", s)
		}
	}
	dumps := configDumps(t, c)
	redactedDump, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for i, dump := range dumps {
		for _, s := range secrets {
			if strings.Contains(dump, s) {
				t.Errorf("dump %d leaks %q:\n%s", i, s, dump)
			}
		}
	}
	// A token URL's query may hold credentials too; Redacted hides it.
	if !strings.Contains(present.String(), "audience=legacy") || strings.Contains(string(redactedDump), "audience=legacy") {
		t.Errorf("Redacted() does not hide the token URL's query:\n%s", redactedDump)
	}
	if o := c.Job("oauth2").Auth.OAuth2; o.TokenURL != "https://auth.example.com/oauth/token?audience=legacy" {
		t.Errorf("Redacted() changed the Config itself: token_url %q", o.TokenURL)
	}
}

// TestTLSFilesRelativeToConfig loads a file from another directory: the
// TLS files are found next to it, and the Config holds their full paths.
func TestTLSFilesRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca.pem", "client.pem", "client-key.pem"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "config", "certs", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tls", name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	abs, err := filepath.Abs(filepath.Join("..", "testdata", "config", "certs", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	doc := `
destinations: {hook: {url: "https://h/1"}}
jobs:
  - name: j
    schedule: "@hourly"
    request: {url: "https://l/1"}
    tls: {ca_file: ` + abs + `, cert_file: tls/client.pem, key_file: tls/client-key.pem}
    destinations: [hook]
`
	path := filepath.Join(dir, "pollhook.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := TLS{CAFile: abs, CertFile: filepath.Join(dir, "tls", "client.pem"), KeyFile: filepath.Join(dir, "tls", "client-key.pem")}
	if got := *c.Jobs[0].TLS; got != want {
		t.Errorf("tls = %+v\nwant  %+v", got, want)
	}
}
