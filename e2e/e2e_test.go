// Package e2e runs the real pollhook binary against a fake legacy API and a
// webhook receiver on 127.0.0.1, and checks what arrives, across restarts,
// receiver outages and a SIGKILL.
package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is built once per test run by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pollhook-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pollhook")
	build := exec.Command("go", "build", "-o", binary, "./cmd/pollhook")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pollhook:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// skipShort skips a test of the binary in -short mode.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
}

// longIf returns long when the environment variable env is set, short
// otherwise: the mode a test runs in.
func longIf[M any](env string, short, long M) M {
	if os.Getenv(env) != "" {
		return long
	}
	return short
}

// serve serves h on a 127.0.0.1 port until the test ends, and returns its
// URL. Its cleanup comes after those of the processes started later, so
// that no request of theirs is left hanging on it.
func serve(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// source is the fake legacy API: a list of orders the test edits.
type source struct {
	mu       sync.Mutex
	orders   map[int]map[string]any
	requests int
	polled   chan struct{} // one signal per request served
}

func newSource() *source {
	s := &source{orders: map[int]map[string]any{}, polled: make(chan struct{}, 1000)}
	for _, id := range []int{1001, 1002, 1003} {
		s.orders[id] = openOrder(id)
	}
	return s
}

// openOrder is a new order as the source holds it: open, standard tier.
func openOrder(id int) map[string]any {
	return map[string]any{"id": id, "status": "open", "customer": map[string]any{"name": fmt.Sprintf("c%d", id), "tier": "standard"}}
}

func (s *source) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	ids := slices.Sorted(maps.Keys(s.orders))
	list := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		o := map[string]any{"updated_at": time.Now().Format(time.RFC3339Nano)} // ignored by the job
		for k, v := range s.orders[id] {
			o[k] = v
		}
		list = append(list, o)
	}
	s.requests++
	body, _ := json.Marshal(map[string]any{"data": map[string]any{"orders": list}, "request_id": s.requests})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
	s.polled <- struct{}{}
}

func (s *source) edit(f func(orders map[int]map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.orders)
}

// waitPolls waits until the source has served n more requests, so that a
// change made before the call has certainly been polled and committed (the
// job never overlaps itself, so the n-th request starts after the previous
// tick committed).
func (s *source) waitPolls(t *testing.T, n int) {
	t.Helper()
	for range len(s.polled) {
		<-s.polled // forget earlier polls
	}
	deadline := time.After(20 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-s.polled:
		case <-deadline:
			t.Fatalf("source saw %d of %d polls in 20s", i, n)
		}
	}
}

// delivery is one webhook request the receiver got.
type delivery struct {
	id, timestamp, signature string
	body                     []byte
	answered                 int
}

// receiver is the webhook destination.
type receiver struct {
	mu      sync.Mutex
	status  int
	hold    chan struct{} // when set, requests block until it is closed
	holding chan struct{} // signalled when a request starts blocking
	got     []delivery
	notify  chan struct{}
}

func newReceiver() *receiver {
	return &receiver{status: http.StatusOK, notify: make(chan struct{}, 1000), holding: make(chan struct{}, 100)}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	hold := r.hold
	r.mu.Unlock()
	held := hold != nil
	if held {
		r.holding <- struct{}{}
		<-hold
	}
	r.mu.Lock()
	status := r.status
	if held {
		// The sender was killed while this request was held: nobody reads
		// the answer, so it does not count as delivered.
		status = 0
	}
	r.got = append(r.got, delivery{
		id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"),
		signature: req.Header.Get("webhook-signature"), body: body, answered: status,
	})
	r.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
	}
	r.notify <- struct{}{}
}

func (r *receiver) set(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

// delivered returns the 2xx-answered deliveries, first occurrence per id.
func (r *receiver) delivered() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []delivery
	for _, d := range r.got {
		if d.answered/100 == 2 && !seen[d.id] {
			seen[d.id] = true
			out = append(out, d)
		}
	}
	return out
}

func (r *receiver) all() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// waitDelivered waits until n distinct events were answered 2xx.
func (r *receiver) waitDelivered(t *testing.T, n int) []delivery {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if d := r.delivered(); len(d) >= n {
			return d
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("receiver got %d of %d events in 30s: %s", len(r.delivered()), n, describe(r.delivered()))
		}
	}
}

// event is the part of a webhook the test pins exactly.
type event struct{ Type, Data string }

func (d delivery) event(t *testing.T) event {
	t.Helper()
	var env struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(d.body, &env); err != nil {
		t.Fatalf("webhook body %q: %v", d.body, err)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", env.Timestamp); err != nil {
		t.Errorf("timestamp %q is not RFC 3339 UTC with milliseconds", env.Timestamp)
	}
	return event{env.Type, string(env.Data)}
}

func describe(ds []delivery) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "\n  %s %d %s", d.id, d.answered, d.body)
	}
	return b.String()
}

// verify checks a Standard Webhooks signature independently of pollhook's
// code, and that its timestamp is the time of the attempt.
func verify(t *testing.T, d delivery) {
	t.Helper()
	verifySignature(t, d)
	ts, err := strconv.ParseInt(d.timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Errorf("event %s: webhook-timestamp %q is not the time of the attempt", d.id, d.timestamp)
	}
}

// verifySignature checks a webhook's signature and id. Unlike verify it
// does not hold the timestamp to the time of the check, which may come
// minutes after the delivery.
func verifySignature(t *testing.T, d delivery) {
	t.Helper()
	if want := sign(d); d.signature != want {
		t.Errorf("event %s: webhook-signature %q, want %q", d.id, d.signature, want)
	}
	if !strings.HasPrefix(d.id, "evt_") {
		t.Errorf("webhook-id %q does not start with evt_", d.id)
	}
}

// sign computes the Standard Webhooks signature d must carry, from the
// test's secret, independently of pollhook's code.
func sign(d delivery) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		panic(err) // secret is a constant
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", d.id, d.timestamp, d.body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// proc is one running pollhook process.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncWriter
	done   chan error
}

type instance struct {
	t      *testing.T
	config string
	admin  string // address of the running process's listener, from its log
}

// newInstance configures an instance polling the orders of src into rcv
// (see ordersConfig).
func newInstance(t *testing.T, src, rcv string) *instance {
	dir := t.TempDir()
	return writeInstance(t, dir, ordersConfig{dir: dir, src: src, rcv: rcv}.String())
}

// writeInstance writes cfg (which names the store and everything else) as
// dir/pollhook.yaml, the configuration of an instance.
func writeInstance(t *testing.T, dir, cfg string) *instance {
	t.Helper()
	path := filepath.Join(dir, "pollhook.yaml")
	writeFile(t, path, cfg)
	return &instance{t: t, config: path}
}

// ordersConfig is the configuration of the e2e instances: the admin
// listener on a free 127.0.0.1 port, the store in dir/data, the receiver
// rcv (quick retries that do not give up within a test) and the orders job
// polling src every second. The other fields are whole YAML lines, or "":
// server adds settings under server:, sections adds top-level sections
// before jobs:, and jobs adds jobs after orders.
type ordersConfig struct {
	dir, src, rcv          string
	server, sections, jobs string
}

func (c ordersConfig) String() string {
	return fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
%sstore:
  path: %s
destinations:
  receiver:
    url: %s/hook
    secret: ${E2E_SECRET}
    retry: {initial_interval: 100ms, max_interval: 400ms, max_attempts: 1000, max_age: 1h}
%sjobs:
  - name: orders
    schedule: "@every 1s"
    request:
      url: %s/api/orders?token=s3cr3t-query
      timeout: 5s
    items: data.orders
    key: id
    ignore: [updated_at]
    destinations: [receiver]
%s`, c.server, filepath.Join(c.dir, "data"), c.rcv, c.sections, c.src, c.jobs)
}

func (in *instance) start() *proc {
	in.t.Helper()
	p := in.spawn()
	in.waitReady(p)
	return p
}

// spawn starts a pollhook process without waiting for it to be ready.
func (in *instance) spawn() *proc {
	t := in.t
	t.Helper()
	cmd := exec.Command(binary, "run", "--config", in.config, "--log-level", "debug")
	cmd.Env = append(os.Environ(), "E2E_SECRET="+secret)
	return startProc(t, cmd, func(p *proc) {
		if t.Failed() {
			t.Logf("pollhook stderr:\n%s", p.stderr.String())
		}
		if strings.Contains(p.stderr.String(), "s3cr3t-query") || strings.Contains(p.stderr.String(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
			t.Errorf("a secret reached the logs:\n%s", p.stderr.String())
		}
	})
}

// startProc starts cmd, collecting its stderr. When the test ends the
// process is killed if it still runs, then atEnd (when not nil) is called.
func startProc(t *testing.T, cmd *exec.Cmd, atEnd func(p *proc)) *proc {
	t.Helper()
	p := &proc{cmd: cmd, stderr: &syncWriter{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if atEnd != nil {
			atEnd(p)
		}
	})
	return p
}

func (in *instance) waitReady(p *proc) {
	t := in.t
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	in.admin = ""
	for {
		if in.admin == "" {
			in.admin = listenAddr(p.stderr.String())
		}
		resp, err := http.Get("http://" + in.admin + "/readyz")
		if in.admin != "" && err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("pollhook exited before it was ready: %v\n%s", err, p.stderr.String())
		case <-deadline:
			t.Fatalf("pollhook not ready in 15s:\n%s", p.stderr.String())
		case <-tick.C:
		}
	}
}

// listenAddr finds the admin listener's address in pollhook's JSON log
// ("" until the start-up line is there), since the test lets it pick a port.
func listenAddr(log string) string {
	for _, l := range logLines(log) {
		if l.str("msg") == "pollhook started" {
			return l.str("listen")
		}
	}
	return ""
}

// logLine is one line of pollhook's JSON log.
type logLine map[string]any

func (l logLine) str(key string) string {
	if v, ok := l[key]; ok {
		return fmt.Sprint(v)
	}
	return ""
}

// logLines reads the JSON lines of pollhook's log, passing over any other.
func logLines(log string) []logLine {
	var lines []logLine
	for _, line := range strings.Split(log, "\n") {
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil {
			lines = append(lines, l)
		}
	}
	return lines
}

// stop sends sig and waits for the process to exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if sig == syscall.SIGTERM && time.Since(start) > 8*time.Second {
			t.Errorf("SIGTERM took %s to stop pollhook", time.Since(start))
		}
		return err
	case <-time.After(15 * time.Second):
		t.Fatalf("pollhook did not exit within 15s of %s", sig)
	}
	return nil
}

func sendSignal(t *testing.T, p *proc, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// fetch requests url (without a body, nor credentials) and returns the
// answer's status and body; it fails the test when there is no answer.
func fetch(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// syncWriter collects a process's stderr while the test reads it.
type syncWriter struct {
	mu sync.Mutex
	w  bytes.Buffer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func order(id int, status, tier string) string {
	return fmt.Sprintf(`{"customer":{"name":"c%d","tier":%q},"id":%d,"status":%q}`, id, tier, id, status)
}

// orderCreated is the event of job for the creation of order id, open and
// of the standard tier.
func orderCreated(job string, id int) event {
	return event{"item.created", `{"job":"` + job + `","key":"` + strconv.Itoa(id) + `","after":` + order(id, "open", "standard") + `}`}
}

// orderDeleted is the event of the orders job for the deletion of order id.
func orderDeleted(id int, status, tier string) event {
	return event{"item.deleted", `{"job":"orders","key":"` + strconv.Itoa(id) + `","before":` + order(id, status, tier) + `}`}
}

// statusChanged is the event of the orders job for the status of order id
// (standard tier) going from from to to.
func statusChanged(id int, from, to string) event {
	return event{"item.updated", `{"job":"orders","key":"` + strconv.Itoa(id) + `","before":` + order(id, from, "standard") + `,"after":` + order(id, to, "standard") +
		`,"patch":[{"op":"replace","path":"/status","value":"` + to + `"}],"merge_patch":{"status":"` + to + `"}}`}
}

// turnedGold is the event of the orders job for order id, of status,
// moving from the standard tier to gold: a nested field.
func turnedGold(id int, status string) event {
	return event{"item.updated", `{"job":"orders","key":"` + strconv.Itoa(id) + `","before":` + order(id, status, "standard") + `,"after":` + order(id, status, "gold") +
		`,"patch":[{"op":"replace","path":"/customer/tier","value":"gold"}],"merge_patch":{"customer":{"tier":"gold"}}}`}
}

// firstChanges makes the first changes of the tests of the orders job in
// one edit of src: an update of a nested field (1002 turns gold), a
// creation (1004) and a deletion (1001). It returns the events they cause.
func firstChanges(src *source) []event {
	src.edit(func(o map[int]map[string]any) {
		o[1002]["customer"] = map[string]any{"name": "c1002", "tier": "gold"}
		o[1004] = openOrder(1004)
		delete(o, 1001)
	})
	return []event{turnedGold(1002, "open"), orderCreated("orders", 1004), orderDeleted(1001, "open", "standard")}
}

func TestEndToEnd(t *testing.T) {
	skipShort(t)
	src := newSource()
	rcv := newReceiver()
	in := newInstance(t, serve(t, src), serve(t, rcv))

	p := in.start()
	src.waitPolls(t, 2) // baseline committed
	if n := len(rcv.all()); n != 0 {
		t.Fatalf("baseline sent %d webhooks, want none:%s", n, describe(rcv.all()))
	}

	// 1. update (nested), create and delete in one poll.
	want := firstChanges(src)
	got := rcv.waitDelivered(t, 3)
	checkEvents(t, got, want)
	checkMetrics(t, in, []string{
		`pollhook_changes_total{job="orders",type="item.created"} 1`,
		`pollhook_changes_total{job="orders",type="item.deleted"} 1`,
		`pollhook_changes_total{job="orders",type="item.updated"} 1`,
		`pollhook_polls_total{job="orders",result="baseline"} 1`,
		`pollhook_polls_total{job="orders",result="changed"} 1`,
	})

	// 2. SIGTERM, change while down, restart: only that change arrives.
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("pollhook exited with %v after SIGTERM, want status 0", err)
	}
	src.edit(func(o map[int]map[string]any) { o[1003]["status"] = "shipped" })
	p = in.start()
	got = rcv.waitDelivered(t, 4)
	want = append(want, statusChanged(1003, "open", "shipped"))
	checkEvents(t, got, want)
	src.waitPolls(t, 2)
	if n := len(rcv.all()); n != 4 {
		t.Fatalf("after restart the receiver got %d requests, want 4 (nothing re-sent):%s", n, describe(rcv.all()))
	}

	// 3. Receiver down (503) while three changes happen; all arrive in order.
	rcv.set(http.StatusServiceUnavailable)
	for _, status := range []string{"paid", "shipped"} {
		src.edit(func(o map[int]map[string]any) { o[1004]["status"] = status })
		src.waitPolls(t, 2)
	}
	src.edit(func(o map[int]map[string]any) { o[1005] = openOrder(1005) })
	src.waitPolls(t, 2)
	failed := 0
	for _, d := range rcv.all() {
		if d.answered == http.StatusServiceUnavailable {
			failed++
		}
	}
	if failed < 2 {
		t.Fatalf("receiver answered 503 %d times, want the outage to be retried", failed)
	}
	rcv.set(http.StatusOK)
	got = rcv.waitDelivered(t, 7)
	want = append(want, statusChanged(1004, "open", "paid"), statusChanged(1004, "paid", "shipped"), orderCreated("orders", 1005))
	checkEvents(t, got, want)
	// Every retry of one event carried the same id: no id was answered 503
	// that is not among the delivered ones.
	ids := map[string]bool{}
	for _, d := range got {
		ids[d.id] = true
	}
	for _, d := range rcv.all() {
		if !ids[d.id] {
			t.Errorf("request with unknown webhook-id %s (ids must be stable across retries)", d.id)
		}
	}

	// 4. SIGKILL while a delivery is in flight; after restart nothing is lost.
	hold := make(chan struct{})
	rcv.mu.Lock()
	rcv.hold = hold
	rcv.mu.Unlock()
	src.edit(func(o map[int]map[string]any) {
		delete(o, 1002)
		o[1003]["customer"] = map[string]any{"name": "c1003", "tier": "gold"}
	})
	select {
	case <-rcv.holding:
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery started after the change")
	}
	_ = p.stop(t, syscall.SIGKILL)
	inFlight := len(rcv.all()) // the held request is recorded once released
	rcv.mu.Lock()
	rcv.hold = nil
	rcv.mu.Unlock()
	close(hold)
	for len(rcv.all()) == inFlight {
		<-rcv.notify // the released request is being recorded
	}
	p = in.start()
	got = rcv.waitDelivered(t, 9)
	want = append(want, turnedGold(1003, "shipped"), orderDeleted(1002, "open", "gold"))
	checkEvents(t, got, want)
	// The request cut off by SIGKILL was sent again, with the same id.
	all := rcv.all()
	killed := all[inFlight]
	if killed.answered != 0 || killed.id != got[7].id {
		t.Errorf("request in flight at SIGKILL = %s answered %d, want event %s unanswered", killed.id, killed.answered, got[7].id)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("pollhook exited with %v after SIGTERM, want status 0", err)
	}
}

// checkMetrics scrapes the running process's /metrics and looks for each
// of the exact sample lines.
func checkMetrics(t *testing.T, in *instance, lines []string) {
	t.Helper()
	_, body := fetch(t, http.MethodGet, "http://"+in.admin+"/metrics")
	for _, l := range missingSamples(body, lines) {
		t.Errorf("/metrics lacks %q", l)
	}
}

// missingSamples returns the sample lines that the /metrics body lacks.
func missingSamples(body string, lines []string) []string {
	var missing []string
	for _, l := range lines {
		if !strings.Contains(body, "\n"+l+"\n") {
			missing = append(missing, l)
		}
	}
	return missing
}

// checkEvents compares delivered events with want, in order, and verifies
// every signature.
func checkEvents(t *testing.T, got []delivery, want []event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d:%s", len(got), len(want), describe(got))
	}
	for i, d := range got {
		verify(t, d)
		if e := d.event(t); e != want[i] {
			t.Errorf("event %d:\n got  %s %s\n want %s %s", i, e.Type, e.Data, want[i].Type, want[i].Data)
		}
	}
}
