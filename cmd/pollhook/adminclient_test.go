package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pollhook/pollhook/admin"
	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/store"
)

// The admin commands are tested against a real admin API: a Badger store
// put in a known state (two paused destinations, a lane with a failed
// attempt, a dead letter), a running pusher and a receiver.

const cliToken = "cli-admin-token"

// t0 is the admin API's clock in these tests, so that ages are exact.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type adminFixture struct {
	cfg       string // configuration file naming the admin server and token
	url       string // the admin server
	delivered chan string
	orders    []store.Event // orders: e1, e2, held behind a 410 on hook
	invoice   store.Event   // dead letter on hook; pending on archive
}

func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	t.Setenv(tokenEnv, "")
	f := &adminFixture{delivered: make(chan string, 100)}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		f.delivered <- r.URL.Path + " " + r.Header.Get("webhook-id")
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dests := []pusher.Destination{{Name: "archive", URL: rcv.URL + "/archive"}, {Name: "hook", URL: rcv.URL + "/hook?key=s3cret"}}
	routes := map[string][]string{"orders": {"hook"}, "invoices": {"archive", "hook"}}
	f.orders = commitAt(t, st, "orders", routes["orders"], t0.Add(-2*time.Hour), t0.Add(-time.Hour))
	f.invoice = commitAt(t, st, "invoices", routes["invoices"], t0.Add(-3*time.Hour))[0]
	must(t, st.SetRetry(store.LaneState{Destination: "hook", Job: "orders", Cursor: f.orders[0].Seq, Attempts: 1,
		FirstAttempt: t0.Add(-10 * time.Minute), LastStatus: 410, LastError: "410 Gone: unsubscribed"}))
	must(t, st.Settle(store.Settlement{Destination: "hook", Job: "invoices", Ack: f.invoice.Seq,
		Dead: []store.DeadLetter{{Destination: "hook", Event: f.invoice, Attempts: 15, LastStatus: 500,
			LastError: "500 Internal Server Error: boom\n\tat line 2", DeadAt: t0.Add(-30 * time.Minute)}}}))
	must(t, st.PauseDestination(store.Pause{Destination: "hook", At: t0.Add(-10 * time.Minute), Job: "orders",
		EventID: f.orders[0].ID, Status: 410, Reason: "410 Gone: unsubscribed"}))
	// archive stays paused: its lane keeps the invoices log from being pruned.
	must(t, st.PauseDestination(store.Pause{Destination: "archive", At: t0.Add(-time.Hour), Job: "invoices",
		EventID: f.invoice.ID, Status: 410, Reason: "410 Gone"}))

	p, err := pusher.New(st, dests, routes, slog.New(slog.DiscardHandler), pusher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pusher: %v", err)
		}
	})

	srv := admin.New(slog.New(slog.DiscardHandler), nil, nil)
	srv.MountAPI(admin.APIConfig{Token: cliToken, Store: st, Deliveries: p, Now: func() time.Time { return t0 },
		Destinations: []admin.Destination{
			{Name: "archive", URL: dests[0].URL, Method: "POST", Format: "json", Jobs: []string{"invoices"}},
			{Name: "hook", URL: dests[1].URL, Method: "POST", Format: "json", Jobs: []string{"invoices", "orders"}},
		}})
	api := httptest.NewServer(srv.Handler())
	t.Cleanup(api.Close)
	f.url = api.URL
	// Only the server section is read: the unset ${HOOK_SECRET} is no problem.
	f.cfg = writeConfig(t, fmt.Sprintf("server:\n  listen: %q\n  admin_token: %s\n"+
		"destinations:\n  hook: {url: \"https://hooks.example.com/in\", secret: \"${HOOK_SECRET}\"}\n",
		api.Listener.Addr().String(), cliToken))
	return f
}

func commitAt(t *testing.T, st store.Store, job string, dests []string, times ...time.Time) []store.Event {
	t.Helper()
	c := &store.Commit{Snapshot: []byte("snapshot"), BodyHash: []byte("hash"), Destinations: dests}
	for i, at := range times {
		c.Events = append(c.Events, store.Event{Type: "item.updated", Job: job, Key: fmt.Sprint(1001 + i), Time: at,
			Data: json.RawMessage(`{}`)})
	}
	if _, err := st.Commit(context.Background(), job, 0, c); err != nil {
		t.Fatal(err)
	}
	return c.Events
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeConfig(t *testing.T, yml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pollhook.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// next returns the next delivery as "path webhook-id".
func (f *adminFixture) next(t *testing.T) string {
	t.Helper()
	select {
	case d := <-f.delivered:
		return d
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery within 20s")
		return ""
	}
}

// expectCLI runs the command and checks its exit code and exact output.
func expectCLI(t *testing.T, wantCode int, wantOut, wantErr string, args ...string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	if code != wantCode || stdout != wantOut || stderr != wantErr {
		t.Errorf("pollhook %s\n= exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), code, stdout, stderr, wantCode, wantOut, wantErr)
	}
}

// TestAdminCommands walks an operator through a paused destination and a
// dead letter with the CLI, checking every line it prints.
func TestAdminCommands(t *testing.T) {
	f := newAdminFixture(t)
	cfg := []string{"--config", f.cfg}
	o1, inv := f.orders[0], f.invoice

	expectCLI(t, exitOK, `DESTINATION  STATE   JOB       DEPTH  QUEUED  ATTEMPTS  NEXT ATTEMPT  OLDEST  LAST ERROR
archive      paused  invoices  1      0       0         -             3h0m0s  -
hook         paused  invoices  0      0       0         -             -       -
hook         paused  orders    2      0       1         -             2h0m0s  410 Gone: unsubscribed

archive is paused since 2026-03-01T11:00:00Z: job invoices, event `+inv.ID+` was answered 410 Gone
  resume it with: pollhook destinations resume archive

hook is paused since 2026-03-01T11:50:00Z: job orders, event `+o1.ID+` was answered 410 Gone: unsubscribed
  resume it with: pollhook destinations resume hook
`, "", append([]string{"destinations", "list"}, cfg...)...)

	// --json prints the answer as the API gave it.
	code, stdout, stderr := runCLI(t, append([]string{"destinations", "list", "--json"}, cfg...)...)
	if raw := apiGet(t, f.url, "/api/v1/destinations"); code != exitOK || stdout != raw || stderr != "" {
		t.Errorf("destinations list --json = %d %q %q, want the API's %q", code, stdout, stderr, raw)
	}
	if strings.Contains(stdout, "s3cret") {
		t.Errorf("destinations list --json shows the URL's query: %s", stdout)
	}

	deadTable := `DEAD AT               DESTINATION  JOB       EVENT ID                        TYPE          KEY   ATTEMPTS  LAST ERROR
2026-03-01T11:30:00Z  hook         invoices  ` + inv.ID + `  item.updated  1001  15        500 Internal Server Error: boom at line 2

1 dead letter; send one again with: pollhook deliveries retry DESTINATION EVENT_ID
`
	expectCLI(t, exitOK, deadTable, "", append([]string{"deliveries", "list"}, cfg...)...)
	expectCLI(t, exitOK, deadTable, "", append([]string{"deliveries", "list", "--destination", "hook", "--job", "invoices"}, cfg...)...)
	expectCLI(t, exitOK, "no dead letters\n", "", append([]string{"deliveries", "list", "--job", "orders"}, cfg...)...)
	expectCLI(t, exitFailure, "", "pollhook deliveries list: destination \"nope\" is not configured\n",
		append([]string{"deliveries", "list", "--destination", "nope"}, cfg...)...)

	// Flags may follow the arguments.
	expectCLI(t, exitOK, `1 event of job "invoices" detected since 2026-03-01T09:00:00Z queued for delivery to "hook" again`+"\n", "",
		append([]string{"deliveries", "replay", "hook", "--job", "invoices", "--since", "2026-03-01T09:00:00Z"}, cfg...)...)
	expectCLI(t, exitOK, `destination "hook" resumed: it delivers again, starting with the event answered 410`+"\n", "",
		append([]string{"destinations", "resume", "hook"}, cfg...)...)
	got := map[string]bool{}
	for range 3 {
		got[f.next(t)] = true
	}
	for _, id := range []string{o1.ID, f.orders[1].ID, inv.ID} {
		if !got["/hook "+id] {
			t.Errorf("after resume, deliveries %v lack %s", got, id)
		}
	}

	expectCLI(t, exitOK, "dead letter of event "+inv.ID+` queued for delivery to "hook" again`+"\n", "",
		append([]string{"deliveries", "retry", "hook", inv.ID}, cfg...)...)
	if d := f.next(t); d != "/hook "+inv.ID {
		t.Errorf("after retry, delivery %s, want %s", d, inv.ID)
	}
	expectCLI(t, exitOK, "no dead letters\n", "", append([]string{"deliveries", "list"}, cfg...)...)
	expectCLI(t, exitFailure, "", "pollhook deliveries retry: destination \"hook\" has no dead letter of event \""+inv.ID+"\"\n",
		append([]string{"deliveries", "retry", "hook", inv.ID}, cfg...)...)
	expectCLI(t, exitOK, `0 dead letters of destination "hook" queued for delivery again`+"\n", "",
		append([]string{"deliveries", "replay", "hook"}, cfg...)...)
	expectCLI(t, exitOK, `destination "hook" was not paused`+"\n", "", append([]string{"destinations", "resume", "hook"}, cfg...)...)
	expectCLI(t, exitFailure, "", "pollhook destinations resume: destination \"nope\" is not configured\n",
		append([]string{"destinations", "resume", "nope"}, cfg...)...)
}

func apiGet(t *testing.T, base, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+cliToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestAdminCommandErrors pins what the admin commands print when they
// cannot do their job, and their exit codes.
func TestAdminCommandErrors(t *testing.T) {
	f := newAdminFixture(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := closed.Listener.Addr().String()
	closed.Close()
	notAPI := httptest.NewServer(http.NotFoundHandler())
	defer notAPI.Close()
	apiAddr := strings.TrimPrefix(f.url, "http://")
	noToken := writeConfig(t, "server: {listen: \""+apiAddr+"\"}\n")
	anyPort := writeConfig(t, "server: {listen: \":0\", admin_token: x}\n")
	badConfig := writeConfig(t, "server: {listen: nowhere}\n")

	tests := []struct {
		name    string
		env     string // POLLHOOK_ADMIN_TOKEN
		args    []string
		code    int
		wantErr string
	}{
		{"daemon not running", "", []string{"destinations", "list", "--config", f.cfg, "--addr", closedAddr}, exitFailure,
			"pollhook destinations list: cannot reach pollhook at http://" + closedAddr + ": dial tcp " + closedAddr +
				": connect: connection refused (is \"pollhook run\" running there? --addr overrides server.listen)\n"},
		{"not the admin API", "", []string{"deliveries", "list", "--config", f.cfg, "--addr", notAPI.URL}, exitFailure,
			"pollhook deliveries list: " + notAPI.URL + " answered 404 Not Found, not as the pollhook admin API does (check --addr)\n"},
		{"wrong token from env", "wrong", []string{"destinations", "list", "--config", f.cfg}, exitFailure,
			"pollhook destinations list: missing or invalid bearer token: the daemon's server.admin_token must be set, " +
				"and the token given here (POLLHOOK_ADMIN_TOKEN, else --config) must match it\n"},
		{"no token anywhere", "", []string{"destinations", "list", "--config", noToken}, exitFailure,
			"pollhook destinations list: no admin token: set server.admin_token (or admin_token_file) in the configuration " +
				"of the running pollhook, and give the same token here with --config or POLLHOOK_ADMIN_TOKEN\n"},
		{"listen on any port", "", []string{"destinations", "list", "--config", anyPort}, exitUsage,
			"pollhook destinations list: server.listen \":0\" picks a free port at start; give the daemon's address with --addr\n"},
		{"invalid config", "", []string{"deliveries", "list", "--config", badConfig}, exitBadConfig,
			badConfig + ":1:10: server.listen: \"nowhere\" is not host:port; expected e.g. \":8080\" or \"127.0.0.1:8080\"\n" +
				badConfig + ": 1 error\n"},
		{"addr with credentials", "", []string{"deliveries", "list", "--config", f.cfg, "--addr", "http://u:p@" + apiAddr}, exitUsage,
			"pollhook deliveries list: --addr must be a plain address, without credentials or query; the token comes from --config or POLLHOOK_ADMIN_TOKEN\n"},
		{"addr not an address", "", []string{"deliveries", "list", "--config", f.cfg, "--addr", "ftp://x"}, exitUsage,
			"pollhook deliveries list: --addr \"ftp://x\" is not host:port or an http(s) URL\n"},
		{"resume without name", "", []string{"destinations", "resume", "--config", f.cfg}, exitUsage,
			"pollhook destinations resume: expected the destination's NAME\n"},
		{"list with argument", "", []string{"destinations", "list", "hook", "--config", f.cfg}, exitUsage,
			"pollhook destinations list: unexpected argument \"hook\"\n"},
		{"retry one argument", "", []string{"deliveries", "retry", "hook", "--config", f.cfg}, exitUsage,
			"pollhook deliveries retry: expected DESTINATION EVENT_ID\n"},
		{"retry three arguments", "", []string{"deliveries", "retry", "hook", "evt_1", "evt_2", "--config", f.cfg}, exitUsage,
			"pollhook deliveries retry: unexpected argument \"evt_2\"\n"},
		{"replay job without since", "", []string{"deliveries", "replay", "hook", "--job", "orders", "--config", f.cfg}, exitUsage,
			"pollhook deliveries replay: --job and --since go together: they replay the events of a job since a time; " +
				"without both, the destination's dead letters are replayed\n"},
		{"replay bad since", "", []string{"deliveries", "replay", "hook", "--job", "orders", "--since", "yesterday", "--config", f.cfg}, exitUsage,
			"pollhook deliveries replay: --since \"yesterday\" is neither an RFC 3339 time (2026-03-01T12:00:00Z) nor a duration ago (90m, 24h)\n"},
		{"replay job not routed", "", []string{"deliveries", "replay", "archive", "--job", "orders", "--since", "1h", "--config", f.cfg}, exitFailure,
			"pollhook deliveries replay: destination \"archive\" does not receive job \"orders\"\n"},
		{"unknown subcommand", "", []string{"deliveries", "purge"}, exitUsage,
			"pollhook deliveries: unknown command \"purge\"\n\n" + deliveriesUsage},
		{"group alone", "", []string{"deliveries"}, exitUsage, deliveriesUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tokenEnv, tc.env)
			expectCLI(t, tc.code, "", tc.wantErr, tc.args...)
		})
	}
}

const deliveriesUsage = `Usage: pollhook deliveries <command> [flags]

List, retry and replay the dead letters of a running pollhook.

Commands:
  list    list the dead letters: events that ran out of attempts or age, oldest first
  retry   send one dead letter to its destination again
  replay  send every dead letter of a destination again, or with --job and --since the events of a job since a time

Run 'pollhook deliveries <command> --help' for the flags of a command.
`

// TestAdminTokenFromEnv: POLLHOOK_ADMIN_TOKEN and --addr together need no
// configuration file at all.
func TestAdminTokenFromEnv(t *testing.T) {
	f := newAdminFixture(t)
	t.Setenv(tokenEnv, cliToken)
	code, stdout, stderr := runCLI(t, "deliveries", "list", "--config", filepath.Join(t.TempDir(), "none.yaml"), "--addr", f.url, "--job", "orders")
	if code != exitOK || stdout != "no dead letters\n" || stderr != "" {
		t.Errorf("= %d %q %q", code, stdout, stderr)
	}
}

func TestListenURL(t *testing.T) {
	tests := []struct{ listen, want, err string }{
		{":8080", "http://127.0.0.1:8080", ""},
		{"0.0.0.0:8080", "http://127.0.0.1:8080", ""},
		{"[::]:8080", "http://[::1]:8080", ""},
		{"127.0.0.1:9000", "http://127.0.0.1:9000", ""},
		{"[::1]:9000", "http://[::1]:9000", ""},
		{"pollhook.internal:9000", "http://pollhook.internal:9000", ""},
		{"127.0.0.1:0", "", `server.listen "127.0.0.1:0" picks a free port at start; give the daemon's address with --addr`},
		{"8080", "", `server.listen "8080" is not host:port`},
	}
	for _, tc := range tests {
		got, err := listenURL(tc.listen)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("listenURL(%q) = %q, %v; want %q, %s", tc.listen, got, err, tc.want, tc.err)
		}
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{"https://pollhook.example.com/admin/", "https://pollhook.example.com/admin"},
		{"http://", ""},
		{"http://x/?token=t", ""},
	}
	for _, tc := range tests {
		if got, err := baseURL(tc.addr); got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("baseURL(%q) = %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-03-01T08:00:00Z", time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), true},
		{"2026-03-01T08:00:00+02:00", time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC), true},
		{"90m", time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC), true},
		{"0s", now, true},
		{"-1h", time.Time{}, false},
		{"2026-03-01", time.Time{}, false},
	}
	for _, tc := range tests {
		got, err := parseSince(tc.in, now)
		if !got.Equal(tc.want) || (err == nil) != tc.ok {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestCell(t *testing.T) {
	long := strings.Repeat("x", 150)
	tests := []struct{ in, want string }{
		{"", "-"},
		{"  ", "-"},
		{"500: a\n\tb\r\nc", "500: a b c"},
		{"nul\x00here", "nul here"},
		{long, strings.Repeat("x", 99) + "…"},
		{strings.Repeat("é", 100), strings.Repeat("é", 100)},
	}
	for _, tc := range tests {
		if got := cell(tc.in); got != tc.want {
			t.Errorf("cell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
