package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The secrets of TestSecretsStayOut, each distinct and long enough that
// finding it anywhere can only mean it leaked.
const (
	srcUser       = "srcuser-7d1f4a"             // userinfo of a job's URL
	srcPass       = "srcpass-Zq81xT"             // its password
	queryToken    = "qtoken-Hk29vB"              // ?token= of a job's URL
	queryAPIKey   = "qapikey-Lm47cN"             // ?api_key=
	queryAccess   = "qaccess-Rt63wD"             // ?access_token= of the timing-out job
	timeoutPass   = "topass-Uy55eF"              // userinfo of the timing-out job
	requestHeader = "reqhdr-Pa38gH"              // a job's X-Token request header
	requestAuth   = "reqauth-Sd72jK"             // a job's Authorization request header
	bearerToken   = "bearer-Fg19kL"              // auth.bearer_file
	basicPassword = "basicpw-Jh84lZ"             // auth.basic.password_file
	apiKey        = "apikey-Xc26mV"              // auth.header.value from ${E2E_API_KEY}
	clientSecret  = "clientsecret-Bn93qW"        // auth.oauth2.client_secret_file
	deniedSecret  = "deniedsecret-Qe51rT"        // auth.oauth2.client_secret of a refused client
	accessToken   = "accesstoken-Wr68tY"         // the token the OAuth2 endpoint grants
	redirectUser  = "rduser-Ei47uI"              // userinfo of the Location a source redirects to
	redirectPass  = "rdpass-To35oP"              // its password
	redirectQuery = "rdquery-Ya82pA"             // ?token= of that Location
	hookPass      = "hookpass-Us16aS"            // userinfo of a destination URL
	hookPath      = "hookpath-Id94sD"            // a token in a destination's path (Slack style)
	hookQuery     = "hookquery-Of27dF"           // ?token= of a destination URL
	hookHeader    = "hookhdr-Pg53fG"             // a destination's Authorization header
	gonePass      = "gonepass-Ah61gH"            // userinfo of the 410 destination
	goneQuery     = "gonequery-Sj38hJ"           // ?api_key= of the 410 destination
	githubSecret  = "ghsecret-Dk72jK"            // signature: github secret
	githubKey     = "ghkey-Fl49kL"               // a destination's X-Api-Key header
	adminToken    = "admintoken-Gz15lZ"          // server.admin_token_file
	healthPass    = "healthpass-Hx83zX"          // userinfo given to pollhook health
	healthQuery   = "healthquery-Jc26xC"         // ?token= given to pollhook health
	invalidPass   = "invalidpass-Kv59cV"         // userinfo in an invalid config
	invalidQuery  = "invalidquery-Lb72vB"        // ?token= in an invalid config
	hookSecret    = "whsec_c2VjcmV0LWhvb2stb25l" // secret_file of a destination
	hookSecret2   = "whsec_c2VjcmV0LWhvb2stdHdv" // its second (rotation) secret
	goneSecret    = "whsec_c2VjcmV0LWdvbmUtMDE=" // secret from ${E2E_GONE_SECRET}
)

// leakForms lists every secret of the test in each form pollhook sends it
// in, so that an echo of the wire form is caught too: basic credentials
// base64-encoded, the key inside a whsec_ secret.
func leakForms() map[string]string {
	forms := map[string]string{}
	for _, s := range []string{srcUser, srcPass, queryToken, queryAPIKey, queryAccess, timeoutPass, requestHeader,
		requestAuth, bearerToken, basicPassword, apiKey, clientSecret, deniedSecret, accessToken, redirectUser,
		redirectPass, redirectQuery, hookPass, hookPath, hookQuery, hookHeader, gonePass, goneQuery, githubSecret,
		githubKey, adminToken, healthPass, healthQuery, invalidPass, invalidQuery} {
		forms[s] = s
	}
	for _, s := range []string{hookSecret, hookSecret2, goneSecret} {
		forms[s] = s
		forms[strings.TrimPrefix(s, "whsec_")] = "the key of " + s
	}
	for _, up := range [][2]string{{srcUser, srcPass}, {"reader", basicPassword}, {redirectUser, redirectPass},
		{"hookuser", hookPass}, {"goneuser", gonePass}, {"pollhook", clientSecret}, {"refused", deniedSecret}} {
		forms[base64.StdEncoding.EncodeToString([]byte(up[0]+":"+up[1]))] = "basic credentials " + up[0] + ":" + up[1]
	}
	return forms
}

// leaks names the secrets found in text.
func leaks(text string) []string {
	var found []string
	for form, name := range leakForms() {
		if strings.Contains(text, form) {
			found = append(found, name)
		}
	}
	sort.Strings(found)
	return found
}

// echo writes the request's credentials back in a short body, as badly
// behaved APIs and receivers do in their error pages: the Authorization
// and API key headers, the signatures, and the request URI with its query.
func echo(w http.ResponseWriter, r *http.Request, status int) {
	var b strings.Builder
	fmt.Fprintf(&b, "denied %s", r.URL.RequestURI())
	for _, h := range []string{"Authorization", "X-Api-Key", "X-Token", "Webhook-Signature", "X-Hub-Signature-256"} {
		if v := r.Header.Get(h); v != "" {
			fmt.Fprintf(&b, " %s=%s", h, v)
		}
	}
	if err := r.ParseForm(); err == nil && r.PostForm.Get("client_secret") != "" {
		fmt.Fprintf(&b, " client_secret=%s", r.PostForm.Get("client_secret"))
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

// leakySource is a legacy API that fails in every way a poll can fail and
// echoes the credentials it got; /ok changes at every request, so that its
// job has events to deliver.
func leakySource(t *testing.T) *httptest.Server {
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"n": %d}`, n.Add(1))
	})
	mux.HandleFunc("GET /unauthorized", func(w http.ResponseWriter, r *http.Request) { echo(w, r, http.StatusUnauthorized) })
	mux.HandleFunc("GET /error", func(w http.ResponseWriter, r *http.Request) { echo(w, r, http.StatusInternalServerError) })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the poll times out and closes the connection
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token": %q, "token_type": "bearer", "expires_in": 3600}`, accessToken)
	})
	mux.HandleFunc("POST /oauth/deny", func(w http.ResponseWriter, r *http.Request) { echo(w, r, http.StatusUnauthorized) })
	srv := httptest.NewServer(mux)
	host := strings.TrimPrefix(srv.URL, "http://")
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://%s:%s@%s/final?token=%s", redirectUser, redirectPass, host, redirectQuery), http.StatusFound)
	})
	mux.HandleFunc("GET /final", func(w http.ResponseWriter, r *http.Request) { echo(w, r, http.StatusInternalServerError) })
	t.Cleanup(srv.Close)
	return srv
}

// leakyReceiver answers 500 to every webhook but those under /gone, which
// get 410, and echoes the signatures and credentials it got.
func leakyReceiver(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasPrefix(r.URL.Path, "/gone") {
			echo(w, r, http.StatusGone)
			return
		}
		echo(w, r, http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// secretsInstance configures an instance that uses every kind of secret,
// inline, from ${VAR} and from *_file.
func secretsInstance(t *testing.T, src, rcv string) *instance {
	dir := t.TempDir()
	files := map[string]string{
		"admin-token": adminToken, "hook-secret": hookSecret, "bearer-token": bearerToken,
		"basic-password": basicPassword, "client-secret": clientSecret,
	}
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content+"\n")
	}
	srcHost, rcvHost := strings.TrimPrefix(src, "http://"), strings.TrimPrefix(rcv, "http://")
	cfg := fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
  admin_token_file: admin-token
store:
  path: %[1]s
destinations:
  failing:
    url: http://hookuser:%[4]s@%[3]s/hook/%[5]s?token=%[6]s
    secret_file: hook-secret
    secrets: [%[7]s]
    headers: {Authorization: "Bearer %[8]s"}
    retry: {initial_interval: 100ms, max_interval: 200ms, max_attempts: 2, max_age: 1h}
  gone:
    url: http://goneuser:%[9]s@%[3]s/gone?api_key=%[10]s
    secret: ${E2E_GONE_SECRET}
  github:
    url: http://%[3]s/github
    signature: github
    secret: %[11]s
    headers: {X-Api-Key: %[12]s}
    retry: {initial_interval: 100ms, max_interval: 400ms, max_attempts: 1000, max_age: 1h}
jobs:
  - name: changing
    schedule: "@every 1s"
    request:
      url: http://%[13]s:%[14]s@%[2]s/ok?token=%[15]s&api_key=%[16]s&status=open
      headers: {X-Token: %[17]s}
    destinations: [failing, gone, github]
  - name: bearer
    schedule: "@every 1s"
    request: {url: "http://%[2]s/unauthorized"}
    auth: {bearer_file: bearer-token}
    notify_source_health: true
    down_after: 1
    destinations: [failing]
  - name: basic
    schedule: "@every 1s"
    request: {url: "http://%[2]s/unauthorized"}
    auth: {basic: {username: reader, password_file: basic-password}}
    destinations: [failing]
  - name: apikey
    schedule: "@every 1s"
    request: {url: "http://%[2]s/error"}
    auth: {header: {name: X-Api-Key, value: "${E2E_API_KEY}"}}
    destinations: [failing]
  - name: oauth2
    schedule: "@every 1s"
    request: {url: "http://%[2]s/unauthorized"}
    auth: {oauth2: {token_url: "http://%[2]s/oauth/token", client_id: pollhook, client_secret_file: client-secret}}
    destinations: [failing]
  - name: oauth2-refused
    schedule: "@every 1s"
    request: {url: "http://%[2]s/unauthorized"}
    auth: {oauth2: {token_url: "http://%[2]s/oauth/deny", client_id: refused, client_secret: %[18]s}}
    destinations: [failing]
  - name: timeout
    schedule: "@every 1s"
    request: {url: "http://to:%[19]s@%[2]s/slow?access_token=%[20]s", timeout: 300ms}
    destinations: [failing]
  - name: redirect
    schedule: "@every 1s"
    request: {url: "http://%[2]s/redirect?token=%[15]s"}
    destinations: [failing]
  - name: headers
    schedule: "@every 1s"
    request:
      url: http://%[2]s/error
      headers: {Authorization: "Bearer %[21]s"}
    destinations: [failing]
`, filepath.Join(dir, "data"), srcHost, rcvHost, hookPass, hookPath, hookQuery, hookSecret2, hookHeader,
		gonePass, goneQuery, githubSecret, githubKey, srcUser, srcPass, queryToken, queryAPIKey, requestHeader,
		deniedSecret, timeoutPass, queryAccess, requestAuth)
	return writeInstance(t, dir, cfg)
}

// parseLog reads pollhook's JSON log; every line must be JSON, since
// stderr is not a terminal.
func parseLog(t *testing.T, log string) []logLine {
	t.Helper()
	var out []logLine
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var l logLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		out = append(out, l)
	}
	return out
}

// failureWanted is one failure line the test waits for: the message and
// the attributes it must carry, with the values pinned where they are known.
type failureWanted struct {
	msg   string
	attrs map[string]string // "" pins the presence of an attribute only
}

func (f failureWanted) matches(l logLine) bool {
	if l.str("msg") != f.msg {
		return false
	}
	for k, v := range f.attrs {
		if _, ok := l[k]; !ok || (v != "" && l.str(k) != v) {
			return false
		}
	}
	return true
}

var failuresWanted = []failureWanted{
	{"poll failed", map[string]string{"level": "WARN", "job": "bearer", "reason": "status", "err": ""}},
	{"poll failed", map[string]string{"level": "WARN", "job": "basic", "reason": "status", "err": ""}},
	{"poll failed", map[string]string{"level": "WARN", "job": "apikey", "reason": "status", "err": ""}},
	{"poll failed", map[string]string{"level": "WARN", "job": "oauth2", "reason": "status", "err": ""}},
	{"poll failed", map[string]string{"level": "WARN", "job": "oauth2-refused", "reason": "auth", "err": ""}},
	{"poll failed", map[string]string{"level": "WARN", "job": "timeout", "reason": "timeout", "err": ""}},
	{"poll failed", map[string]string{"level": "WARN", "job": "redirect", "reason": "status", "err": ""}},
	{"poll failed", map[string]string{"level": "WARN", "job": "headers", "reason": "status", "err": ""}},
	{"source down: source.down sent", map[string]string{"job": "bearer", "reason": ""}},
	{"delivery failed", map[string]string{"level": "WARN", "destination": "failing", "job": "changing", "attempt": "1", "status": "500", "reason": "", "event_id": ""}},
	{"delivery failed", map[string]string{"level": "WARN", "destination": "github", "job": "changing", "attempt": "", "status": "500", "reason": ""}},
	{"event dead-lettered", map[string]string{"level": "ERROR", "destination": "failing", "job": "changing", "attempts": "2", "reason": ""}},
	{"destination paused: its receiver answered 410 Gone; resume it to deliver again", map[string]string{"level": "ERROR", "destination": "gone", "job": "changing", "status": "410", "reason": ""}},
}

// missingFailures lists the wanted failure lines log does not have yet.
func missingFailures(log string) []string {
	lines := logLines(log)
	var missing []string
	for _, f := range failuresWanted {
		if !slices.ContainsFunc(lines, f.matches) {
			missing = append(missing, fmt.Sprintf("%s %v", f.msg, f.attrs))
		}
	}
	return missing
}

// adminGet asks the running pollhook for path with the admin token.
func adminGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	return adminDo(t, http.MethodGet, addr, path)
}

// adminPost posts to path with the admin token.
func adminPost(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	return adminDo(t, http.MethodPost, addr, path)
}

func adminDo(t *testing.T, method, addr, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// runCLI runs a pollhook command to its end and returns its exit code and
// its stdout and stderr together.
func runCLI(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("pollhook %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String()
}

// TestSecretsStayOut feeds known secrets through every path that carries
// one (job URL userinfo and query, request headers, bearer, basic, API key
// header and OAuth2 credentials, destination URL credentials, path tokens,
// headers and signing secrets, the admin token), inline, from ${VAR} and
// from *_file, to the real binary at --log-level debug. The source fails
// every way a poll fails (401 echoing the credentials, 500, a timeout, a
// redirect to a URL with credentials, a refused OAuth2 client) and the
// receiver fails every way a delivery fails (500 echoing the signature,
// 410). Once every failure line is logged, with its job, destination,
// attempt and reason, no secret may appear in stdout, stderr, /metrics,
// the admin API, or the output of the CLI commands.
func TestSecretsStayOut(t *testing.T) {
	skipShort(t)
	src, rcv := leakySource(t), leakyReceiver(t)
	in := secretsInstance(t, src.URL, rcv.URL)
	cfg := in.config
	env := []string{"E2E_API_KEY=" + apiKey, "E2E_GONE_SECRET=" + goneSecret}

	cmd := exec.Command(binary, "run", "--config", cfg, "--log-level", "debug")
	cmd.Env = append(os.Environ(), env...)
	stdout := &syncWriter{}
	cmd.Stdout = stdout
	p := startProc(t, cmd, nil)
	in.waitReady(p)

	if !waitUntil(30*time.Second, nil, func() bool { return len(missingFailures(p.stderr.String())) == 0 }) {
		t.Fatalf("in 30s pollhook did not log:\n  %s\nlog:\n%s", strings.Join(missingFailures(p.stderr.String()), "\n  "), p.stderr.String())
	}

	// What an operator sees besides the log.
	var answers strings.Builder
	add := func(what, text string) { fmt.Fprintf(&answers, "== %s\n%s\n", what, text) }
	add("/metrics", scrape(in))
	for _, path := range []string{"/", "/readyz", "/api/v1/destinations", "/api/v1/destinations/failing",
		"/api/v1/destinations/gone", "/api/v1/deadletters", "/api/v1/jobs", "/api/v1/jobs/changing"} {
		code, body := adminGet(t, in.admin, path)
		add(fmt.Sprintf("GET %s: %d", path, code), body)
	}
	for _, path := range []string{"/api/v1/destinations", "/api/v1/deadletters"} {
		if code, body := adminGet(t, in.admin, path); code != http.StatusOK {
			t.Errorf("GET %s: %d %s, want 200", path, code, body)
		}
	}
	// The dead letter and the pause carry the receivers' echoes as their
	// last error: those are the answers most likely to leak.
	if _, body := adminGet(t, in.admin, "/api/v1/deadletters?destination=failing"); !strings.Contains(body, `"last_status":500`) {
		t.Errorf("dead letters of failing lack the receiver's 500:\n%s", body)
	}
	for _, args := range [][]string{
		{"destinations", "list", "--config", cfg, "--addr", in.admin},
		{"deliveries", "list", "--config", cfg, "--addr", in.admin},
		{"deliveries", "list", "--config", cfg, "--addr", in.admin, "--json"},
	} {
		code, out := runCLI(t, env, args...)
		add(fmt.Sprintf("pollhook %s: exit %d", strings.Join(args[:2], " "), code), out)
		if code != 0 {
			t.Errorf("pollhook %s: exit %d:\n%s", strings.Join(args, " "), code, out)
		}
	}
	health := fmt.Sprintf("http://probe:%s@%s/readyz?token=%s", healthPass, in.admin, healthQuery)
	if code, out := runCLI(t, nil, "health", health); code != 0 {
		t.Errorf("pollhook health: exit %d:\n%s", code, out)
	} else {
		add("pollhook health (up)", out)
	}
	// A port nothing listens on: the error quotes the URL.
	code, out := runCLI(t, nil, "health", "--timeout", "2s", fmt.Sprintf("http://probe:%s@127.0.0.1:1/readyz?token=%s", healthPass, healthQuery))
	add(fmt.Sprintf("pollhook health (down): exit %d", code), out)
	code, out = runCLI(t, env, "validate", "--config", cfg)
	add(fmt.Sprintf("pollhook validate: exit %d", code), out)
	code, out = runCLI(t, nil, "validate", "--config", invalidSecretsConfig(t))
	add(fmt.Sprintf("pollhook validate (invalid): exit %d", code), out)
	if code != 3 {
		t.Errorf("pollhook validate of an invalid configuration: exit %d, want 3:\n%s", code, out)
	}

	// A reload of a file whose errors sit in secret-bearing values: the
	// refusal is answered and logged, the running configuration kept.
	invalid, err := os.ReadFile(invalidSecretsConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, invalid, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = adminPost(t, in.admin, "/-/reload")
	add(fmt.Sprintf("POST /-/reload (invalid): %d", code), out)
	if code != http.StatusBadRequest || !strings.Contains(out, `"code":"invalid_config"`) {
		t.Errorf("POST /-/reload of an invalid file: %d %s, want 400 invalid_config", code, out)
	}

	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("pollhook exited with %v after SIGTERM, want status 0", err)
	}
	for _, out := range []struct{ name, text string }{
		{"stdout of pollhook run", stdout.String()},
		{"stderr of pollhook run", p.stderr.String()},
		{"the answers", answers.String()},
	} {
		if found := leaks(out.text); len(found) > 0 {
			t.Errorf("%s hold secrets: %s\n%s", out.name, strings.Join(found, ", "), out.text)
		}
	}
	if stdout.String() != "" {
		t.Errorf("pollhook run wrote to stdout: %q", stdout.String())
	}
	parseLog(t, p.stderr.String())
	if t.Failed() {
		t.Logf("pollhook stderr:\n%s\n%s", p.stderr.String(), answers.String())
	}
}

// invalidSecretsConfig writes a configuration whose errors sit in values
// that carry secrets: URLs that are not http(s) and a destination secret
// that is not a whsec_ secret.
func invalidSecretsConfig(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "invalid.yaml")
	bad := url.URL{Scheme: "ftp", User: url.UserPassword("u", invalidPass), Host: "legacy", Path: "/orders", RawQuery: "token=" + invalidQuery}
	cfg := fmt.Sprintf(`destinations:
  hook:
    url: %[1]s
    secret: not-whsec-%[2]s
jobs:
  - name: orders
    schedule: "@every 1s"
    request: {url: "%[1]s"}
    destinations: [hook]
`, bad.String(), invalidPass)
	writeFile(t, path, cfg)
	return path
}
