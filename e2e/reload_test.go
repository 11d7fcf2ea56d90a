package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReload edits the configuration file of a running pollhook and
// reloads it: by SIGHUP a job is added while the first job's lane holds a
// queued event, which still arrives; a broken file is refused with its
// errors logged at their lines, and pollhook keeps running the old one;
// POST /-/reload answers the same errors, then applies a fixed file.
func TestReload(t *testing.T) {
	skipShort(t)
	src, invoices := newSource(), newSource()
	invURL := serve(t, invoices)
	rcv := newReceiver()
	in := newInstance(t, serve(t, src), serve(t, rcv))
	original := readFile(t, in.config)

	p := in.start()
	src.waitPolls(t, 2) // baseline committed

	// 1. A change of orders is queued behind a failing receiver.
	rcv.set(http.StatusServiceUnavailable)
	src.edit(func(o map[int]map[string]any) { o[1001]["status"] = "paid" })
	for len(rcv.all()) == 0 {
		select {
		case <-rcv.notify:
		case <-time.After(20 * time.Second):
			t.Fatal("the change of orders was not attempted in 20s")
		}
	}
	attempted := rcv.all()[0].id

	// 2. SIGHUP with a job added: the new job's events arrive, and so does
	// the event queued on the orders lane, under its webhook-id.
	withInvoices := original + `  - name: invoices
    schedule: "@every 1s"
    request: {url: "` + invURL + `/api/invoices"}
    items: data.orders
    key: id
    ignore: [updated_at]
    emit_initial: true
    destinations: [receiver]
`
	writeFile(t, in.config, withInvoices)
	sendSignal(t, p, syscall.SIGHUP)
	line := waitLog(t, p, "configuration reloaded", 1)[0]
	if line.str("trigger") != "SIGHUP" || fmt.Sprint(line["jobs_added"]) != "[invoices]" || line["jobs"] != 2.0 {
		t.Errorf("reload logged %v", line)
	}
	rcv.set(http.StatusOK)
	got := rcv.waitDelivered(t, 4)
	byJob := map[string][]delivery{}
	for _, d := range got {
		var env struct {
			Data struct{ Job string } `json:"data"`
		}
		if err := json.Unmarshal(d.body, &env); err != nil {
			t.Fatal(err)
		}
		byJob[env.Data.Job] = append(byJob[env.Data.Job], d)
	}
	checkEvents(t, byJob["orders"], []event{statusChanged(1001, "open", "paid")})
	if byJob["orders"][0].id != attempted {
		t.Errorf("the queued event arrived as %s, want the webhook-id of its first attempt, %s", byJob["orders"][0].id, attempted)
	}
	checkEvents(t, byJob["invoices"], []event{orderCreated("invoices", 1001), orderCreated("invoices", 1002), orderCreated("invoices", 1003)})

	// 3. A broken file: refused, its errors logged at their lines, the
	// running configuration kept.
	broken := withInvoices + "  - name: refunds\n    schedule: \"@every 1s\"\n    destinations: [receiver, nowhere]\n"
	writeFile(t, in.config, broken)
	sendSignal(t, p, syscall.SIGHUP)
	wantErrors := []string{
		in.config + `:28:5: jobs[2].request.url: missing; expected an absolute http or https URL such as https://api.example.com/orders`,
		in.config + `:30:30: jobs[2].destinations[1]: "nowhere" is not a defined destination; expected one of: receiver`,
	}
	var logged []string
	for _, l := range waitLog(t, p, "config reload: invalid configuration", 2) {
		logged = append(logged, l.str("err"))
	}
	if strings.Join(logged, "\n") != strings.Join(wantErrors, "\n") {
		t.Errorf("logged errors\n%s\nwant\n%s", strings.Join(logged, "\n"), strings.Join(wantErrors, "\n"))
	}
	if l := waitLog(t, p, "config reload failed; the running configuration is kept", 1)[0]; l.str("level") != "ERROR" {
		t.Errorf("refused reload logged %v", l)
	}
	src.edit(func(o map[int]map[string]any) { o[1002]["status"] = "paid" })
	got = rcv.waitDelivered(t, 5)
	checkEvents(t, got[4:], []event{statusChanged(1002, "open", "paid")})

	// 4. POST /-/reload answers the same errors; a fixed file (invoices
	// removed) applies.
	type apiError struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	wantBody, _ := json.Marshal(map[string]apiError{"error": {"invalid_config", in.config + ": 2 errors; nothing was reloaded", wantErrors}})
	if code, body := postReload(t, in); code != 400 || body != string(wantBody)+"\n" {
		t.Errorf("POST /-/reload = %d %s, want 400 %s", code, body, wantBody)
	}
	writeFile(t, in.config, original)
	if code, body := postReload(t, in); code != 200 || body != `{"reloaded":true,"jobs":1,"destinations":1}`+"\n" {
		t.Errorf("POST /-/reload = %d %s, want 200", code, body)
	}
	checkMetrics(t, in, []string{
		`pollhook_config_reloads_total{result="failure"} 2`,
		`pollhook_config_reloads_total{result="success"} 2`,
		`pollhook_config_last_reload_successful 1`,
	})
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("pollhook exited with %v after SIGTERM, want status 0", err)
	}
}

// waitLog waits until pollhook has logged n records with message msg and
// returns them.
func waitLog(t *testing.T, p *proc, msg string, n int) []logLine {
	t.Helper()
	var found []logLine
	ok := waitUntil(20*time.Second, nil, func() bool {
		found = found[:0]
		for _, l := range logLines(p.stderr.String()) {
			if l.str("msg") == msg {
				found = append(found, l)
			}
		}
		return len(found) >= n
	})
	if !ok {
		t.Fatalf("%d log records %q in 20s, want %d:\n%s", len(found), msg, n, p.stderr.String())
	}
	return found
}

// postReload asks the running pollhook to reload; the instance's
// configuration has no admin token, so the endpoint is open.
func postReload(t *testing.T, in *instance) (int, string) {
	t.Helper()
	return fetch(t, http.MethodPost, "http://"+in.admin+"/-/reload")
}
