package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/config/golden")

// mapEnv turns a map into a lookupEnv function.
func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// testEnv is the environment of the valid-*.yaml files. Its values are
// distinctive so that a leak of any of them is easy to find.
var testEnv = map[string]string{
	"ADMIN_TOKEN":        "admin-token-value",
	"ORDERS_HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	"HOOK_API_KEY":       "hook-api-key-value",
	"GITHUB_SECRET":      "github-secret-value",
	"LEGACY_TOKEN":       "legacy-token-value",
	"HOOK_URL":           "https://hooks.example.com/env",
	"LISTEN":             "", // set but empty: the default applies
}

// parseFile parses a file under testdata/config, run from the repository
// root (see t.Chdir) so that file names in errors read as users see them.
func parseFile(t *testing.T, name string, env map[string]string) (*Config, error) {
	t.Helper()
	path := filepath.Join("testdata", "config", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(path, data, mapEnv(env))
}

// TestInvalidFiles pins the complete error output of every
// testdata/config/invalid-*.yaml, one file per rule, with no environment.
func TestInvalidFiles(t *testing.T) {
	t.Chdir("..")
	tests := []struct {
		rule string
		want []string // lines of the error, each after the file name
	}{
		{"alias-cycle", []string{
			`:5:7: destinations.hook.headers: << must merge a mapping or a list of mappings that does not contain it`,
		}},
		{"auth-header-twice", []string{
			`:9:5: jobs[0].auth: authorization is also set in request.headers; keep one`,
			`:16:5: jobs[1].auth: x-api-key is also set in request.headers; keep one`,
		}},
		{"auth-incomplete", []string{
			`:7:12: jobs[0].auth.basic.username: missing; expected the user name`,
			`:12:20: jobs[1].auth.basic.username: contains ':', which basic authentication cannot carry in a user name`,
			`:17:12: jobs[2].auth.header.name: missing; expected the header's name, e.g. X-Api-Key`,
			`:17:12: jobs[2].auth.header.value: missing; set value or value_file`,
			`:22:21: jobs[3].auth.header.name: "Api Key" is not a valid header name; expected letters, digits and '-', e.g. X-Api-Key`,
			`:28:7: jobs[4].auth.oauth2.client_id: missing; expected the client id the token endpoint knows this client by`,
			`:28:7: jobs[4].auth.oauth2.client_secret: missing; set client_secret or client_secret_file`,
			`:28:7: jobs[4].auth.oauth2.token_url: missing; expected an absolute http or https URL such as https://auth.example.com/oauth/token`,
			`:29:24: jobs[4].auth.oauth2.scopes[1]: "read write" is not one scope; expected a list with one scope per entry, e.g. [orders.read, stock.read]`,
			`:29:38: jobs[4].auth.oauth2.scopes[2]: "" is not one scope; expected a list with one scope per entry, e.g. [orders.read, stock.read]`,
		}},
		{"auth-kinds", []string{
			`:7:5: jobs[0].auth: empty; expected one of bearer, bearer_file, basic, header or oauth2`,
			`:12:5: jobs[1].auth: empty; expected one of bearer, bearer_file, basic, header or oauth2`,
			`:17:5: jobs[2].auth: bearer, basic and oauth2 are set; expected exactly one kind of credentials`,
		}},
		{"auth-line-break", []string{
			`:7:12: jobs[0].auth.bearer: the value contains a line break or NUL (value not shown); expected a single line`,
			`:12:38: jobs[1].auth.header.value: the value contains a line break or NUL (value not shown); expected a single line`,
		}},
		{"auth-secret-files", []string{
			`:7:27: jobs[0].auth.bearer_file: bearer and bearer_file are both set; keep one`,
			`:12:38: jobs[1].auth.basic.password_file: cannot read "testdata/config/secrets/missing": no such file or directory`,
			`:17:38: jobs[2].auth.header.value_file: "testdata/config/secrets/empty" is empty; expected the value in it`,
			`:22:68: jobs[3].auth.oauth2.client_secret_file: cannot read "testdata/config/secrets": not a regular file`,
		}},
		{"backoff", []string{
			`:7:15: jobs[0].backoff.max: 0s is not positive; expected e.g. 10m`,
			`:12:15: jobs[1].backoff.max: -5m is not positive; expected e.g. 10m`,
		}},
		{"bad-batch", []string{
			`:4:13: destinations.hook.batch.max_events: 0 is outside 1..1000; expected e.g. 100, or 1 to send one event per request`,
			`:4:28: destinations.hook.batch.max_wait: 0s is not positive; expected e.g. 1s`,
			`:8:7: destinations.archive.batch.max_events: 1001 is outside 1..1000; expected e.g. 100, or 1 to send one event per request`,
		}},
		{"bad-concurrency", []string{
			`:4:5: destinations.hook.concurrency: 0 is less than 1; expected the number of lanes that may deliver at once, e.g. 4`,
		}},
		{"bad-content-type", []string{
			`:5:5: destinations.hook.content_type: "json" is not a media type; expected e.g. application/json or text/plain; charset=utf-8`,
		}},
		{"bad-destination-events", []string{
			`:4:28: destinations.hook.events[1]: "created" is not an event type (a destination takes full event types: item.created); expected one of: item.created, item.updated, item.deleted, document.changed, item.snapshot, source.down, source.recovered`,
			`:4:37: destinations.hook.events[2]: "item.removed" is not an event type; expected one of: item.created, item.updated, item.deleted, document.changed, item.snapshot, source.down, source.recovered`,
			`:4:51: destinations.hook.events[3]: "item.created" is listed twice`,
			`:4:65: destinations.hook.events[4]: "changed" is not an event type (a destination takes full event types: document.changed); expected one of: item.created, item.updated, item.deleted, document.changed, item.snapshot, source.down, source.recovered`,
			`:7:5: destinations.archive.events: empty; list the event types to send, or leave events out to send all`,
		}},
		{"bad-destination-name", []string{
			`:2:3: destinations["orders hook"]: "orders hook" is not a valid destination name; expected letters, digits, '_', '.' or '-', starting with a letter or digit`,
		}},
		{"bad-detection", []string{
			`:12:7: jobs[0].response.format: "yaml" is not a format; expected json, xml, csv, text, or leave it out to go by the Content-Type`,
			`:13:5: jobs[0].transform: unexpected EOF; expected a jq expression such as .data.orders | map({id, status})`,
			`:14:5: jobs[0].when: unexpected token Operator("<") (1:15); expected a condition over type, key, job, before and after such as after.stock < 5`,
			`:15:5: jobs[0].debounce: -1 is negative; expected the number of polls a change must persist, e.g. 2`,
			`:22:5: jobs[1].items: does not apply to format text (a text document is compared as a whole); remove it or use json, xml or csv`,
			`:23:5: jobs[1].ignore: does not apply to format text (a text document is compared as a whole); remove it or use json, xml or csv`,
		}},
		{"bad-duration", []string{
			`:5:7: destinations.hook.retry.max_age: "3d" is not a duration; expected e.g. 30s, 5m, 1h`,
			`:9:5: jobs[0].jitter: "abc" is not a duration; expected e.g. 30s, 5m, 1h`,
			`:12:7: jobs[0].request.timeout: "30" is not a duration; expected e.g. 30s, 5m, 1h`,
		}},
		{"bad-env-reference", []string{
			`:3:5: destinations.hook.url: "${SOURCE-legacy}" is not a valid variable reference; expected ${NAME} or ${NAME:-default}`,
			`:6:5: jobs[0].schedule: unterminated "${"; close it with "}" or write $$ for a literal $`,
		}},
		{"bad-event", []string{
			`:11:23: jobs[0].events[1]: "removed" is not an event; expected created, updated, deleted or changed`,
			`:11:32: jobs[0].events[2]: "changed" is emitted only without items (document mode); expected created, updated or deleted`,
			`:11:41: jobs[0].events[3]: "created" is listed twice`,
			`:17:14: jobs[1].events[0]: "updated" needs items (items mode); without items a job emits only changed`,
			`:23:5: jobs[2].events: empty; list the events to send, or leave events out to send all`,
		}},
		{"bad-header", []string{
			`:6:7: destinations.hook.headers.x-team: same header as X-Team (header names ignore case); keep one`,
			`:7:7: destinations.hook.headers.Webhook-Id: set by pollhook on every webhook; remove it`,
			`:8:7: destinations.hook.headers.Content-Type: set by pollhook on every webhook; remove it`,
			`:15:9: jobs[0].request.headers["Api Key"]: "Api Key" is not a valid header name; expected letters, digits and '-', e.g. X-Api-Key`,
			`:16:9: jobs[0].request.headers.X-Token: the value contains a line break or NUL (value not shown); expected a single line`,
		}},
		{"bad-job-name", []string{
			`:5:5: jobs[0].name: "open orders" is not a valid job name; expected letters, digits, '_', '.' or '-', starting with a letter or digit`,
		}},
		{"bad-listen", []string{
			`:2:3: server.listen: "8080" is not host:port; expected e.g. ":8080" or "127.0.0.1:8080"`,
		}},
		{"bad-method", []string{
			`:4:5: destinations.hook.method: "DELETE" is not supported; expected GET, POST, PUT or PATCH`,
			`:10:7: jobs[0].request.method: "DELETE" is not supported; expected GET or POST`,
		}},
		{"bad-path", []string{
			`:9:5: jobs[0].items: path "data..orders" has an empty segment; expected a dotted path such as data.orders, or $ for a top-level array`,
			`:10:10: jobs[0].key[0]: "$" is the whole item, not a field; expected a field path such as id`,
			`:11:26: jobs[0].ignore[1]: path "lines[0].price": segment "lines[0]": only [*] (every element of an array) may follow a name; expected a dotted field path such as updated_at or meta.*`,
			`:11:44: jobs[0].ignore[2]: empty path; expected a dotted field path such as updated_at or meta.*`,
			`:12:17: jobs[0].unordered[0]: path "tags.x_*": segment "x_*": '*' matches a whole segment only; globs such as x_* are not supported; expected the dotted path of an array such as tags or lines[*].serials`,
		}},
		{"bad-rate-limit", []string{
			`:4:5: destinations.hook.rate_limit: 0 is not a positive finite number; expected events per second such as 10 or 0.5, or leave rate_limit out for no limit`,
			`:7:5: destinations.negative.rate_limit: -2.5 is not a positive finite number; expected events per second such as 10 or 0.5, or leave rate_limit out for no limit`,
			`:10:5: destinations.infinite.rate_limit: +Inf is not a positive finite number; expected events per second such as 10 or 0.5, or leave rate_limit out for no limit`,
			`:13:5: destinations.nan.rate_limit: NaN is not a positive finite number; expected events per second such as 10 or 0.5, or leave rate_limit out for no limit`,
		}},
		{"bad-schedule", []string{
			`:6:5: jobs[0].schedule: "every 5m" is not a cron expression or @every duration (expected 5 to 6 fields, found 2: [every 5m])`,
			`:10:5: jobs[1].schedule: missing; expected a cron expression or @every duration, e.g. "*/5 * * * *" or "@every 30s"`,
			`:15:5: jobs[2].schedule: "0 0 31 2 *" is not a cron expression or @every duration (0 0 31 2 * never fires (no matching date))`,
			`:20:5: jobs[3].schedule: "@every 500ms" is not a cron expression or @every duration (@every 500ms: the interval must be a whole number of seconds, at least 1s)`,
		}},
		{"bad-signature", []string{
			`:5:5: destinations.hook.signature: "hmac" is not a signature scheme; expected standard, github or none`,
			`:8:5: destinations.github-hook.signature: github needs a secret; set secret, secret_file or secrets, or write signature: none`,
			`:12:5: destinations.unsigned.signature: none, but a secret is set; remove the secret or use standard or github`,
		}},
		{"bad-standard-secret", []string{
			`:4:5: destinations.hook.secret: not a Standard Webhooks secret (value not shown); expected "whsec_" followed by base64, or signature: github for a plain string`,
			`:6:9: destinations.hook.secrets[0]: not a Standard Webhooks secret (value not shown); expected "whsec_" followed by base64, or signature: github for a plain string`,
		}},
		{"bad-success-codes", []string{
			`:4:21: destinations.hook.success_codes[0]: 99 is not an HTTP status code; expected 100 to 599, e.g. 409`,
			`:4:30: destinations.hook.success_codes[2]: 204 is a 2xx code, which always counts as success; list only other codes, e.g. 409`,
			`:4:35: destinations.hook.success_codes[3]: 600 is not an HTTP status code; expected 100 to 599, e.g. 409`,
			`:4:40: destinations.hook.success_codes[4]: 409 is listed twice`,
		}},
		{"bad-url", []string{
			`:3:5: destinations.hook.url: "hooks.example.com/in" is not an absolute http or https URL; expected e.g. https://hooks.example.com/orders`,
			`:4:3: destinations.archive.url: missing; expected an absolute http or https URL such as https://hooks.example.com/orders`,
			`:9:7: jobs[0].request.url: "ftp://legacy/orders" is not an absolute http or https URL; expected e.g. https://api.example.com/orders`,
			`:14:7: jobs[1].request.url: not a valid URL (not shown, it may hold credentials); expected an absolute http or https URL such as https://api.example.com/orders`,
		}},
		{"batch-one-event-per-request", []string{
			`:6:13: destinations.query.batch.max_events: GET sends one event per request as a query string; remove batch or use POST, PUT or PATCH`,
			`:10:13: destinations.form.batch.max_events: format form sends one event per request; remove batch or use format json or xml`,
		}},
		{"body-with-get", []string{
			`:9:7: jobs[0].request.body: a body is sent only with POST; set method: POST or remove the body`,
		}},
		{"content-type-without-template", []string{
			`:5:5: destinations.hook.content_type: applies only to a template's body (each format sets its own); add a template or remove content_type`,
		}},
		{"down-after", []string{
			`:7:5: jobs[0].down_after: applies only with notify_source_health: true; add it or remove down_after`,
			`:13:5: jobs[1].down_after: 0 is less than 1; expected the number of failed polls in a row after which the source is down, e.g. 3`,
		}},
		{"duplicate-job-name", []string{
			`:10:5: jobs[1].name: "orders" is already the name of jobs[0] (line 5); job names must be unique`,
		}},
		{"duplicate-key", []string{
			`:4:3: destinations.hook: given twice; the first is at line 2`,
			`:9:5: jobs[0].schedule: given twice; the first is at line 8`,
		}},
		{"get-with-format", []string{
			`:5:5: destinations.hook.format: "json" cannot be sent with GET, which sends the event's form fields as a query string; remove format or write format: form`,
		}},
		{"get-with-template", []string{
			`:5:5: destinations.hook.template: a GET request has no body for a template to render; remove the template or use POST, PUT or PATCH`,
		}},
		{"health-not-received", []string{
			`:10:5: jobs[0].notify_source_health: none of the job's destinations receives source.down or source.recovered (see their events:); add them to one or remove notify_source_health`,
		}},
		{"jitter-interval", []string{
			`:6:5: jobs[0].jitter: 30s is not shorter than the schedule's interval 30s; expected less, e.g. 3s`,
			`:11:5: jobs[1].jitter: 6m is not shorter than the schedule's interval 5m; expected less, e.g. 30s`,
			`:16:5: jobs[2].jitter: 9h is not shorter than the schedule's interval 8h; expected less, e.g. 48m`,
		}},
		{"key-without-items", []string{
			`:9:5: jobs[0].key: needs items (the path to the array whose items the key identifies)`,
		}},
		{"limits", []string{
			`:2:3: limits.max_concurrent_polls: 0 is less than 1; expected the number of polls that may run at once, e.g. 16, or leave it out for no cap`,
			`:3:14: limits.per_host.rate: -1 is not a positive finite number; expected polls per second to one host, such as 5 or 0.5`,
			`:3:24: limits.per_host.burst: 0 is less than 1; expected the polls one host may take at once after a quiet spell, e.g. 1`,
		}},
		{"limits-no-rate", []string{
			`:2:3: limits.per_host.rate: missing; expected polls per second to one host, such as 5 or 0.5`,
		}},
		{"malformed-yaml", []string{
			`:7: malformed YAML: did not find expected ',' or '}'`,
		}},
		{"many-problems", []string{
			`:4:3: server.listen: "localhost" is not host:port; expected e.g. ":8080" or "127.0.0.1:8080"`,
			`:8:5: destinations.orders-hook.secret: environment variable ORDERS_HOOK_SECRET is not set (give it a value or write ${ORDERS_HOOK_SECRET:-default})`,
			`:9:5: destinations.orders-hook.format: "protobuf" is not supported; expected json, xml or form`,
			`:12:5: jobs[0].schedule: "every 5m" is not a cron expression or @every duration (expected 5 to 6 fields, found 2: [every 5m])`,
			`:13:5: jobs[0].jitter: "soon" is not a duration; expected e.g. 30s, 5m, 1h`,
			`:16:7: jobs[0].request.tmeout: unknown field; expected one of: url, method, headers, body, timeout, max_body_size`,
			`:17:13: jobs[0].guard.max_deleted_ratio: 2 is outside 0..1; expected e.g. 0.5, or 0 to turn the guard off`,
			`:18:20: jobs[0].destinations[0]: "order-hook" is not a defined destination; expected one of: orders-hook`,
			`:19:5: jobs[1].name: missing; every job needs a unique name`,
			`:21:7: jobs[1].request.url: "/relative" is not an absolute http or https URL; expected e.g. https://api.example.com/orders`,
		}},
		{"max-body-size", []string{
			`:9:7: jobs[0].request.max_body_size: 0 is not positive; expected e.g. 10MiB`,
			`:15:7: jobs[1].request.max_body_size: "10 megs" is not a size; expected e.g. 1048576, 512KiB, 10MiB or 1MB`,
		}},
		{"missing-env", []string{
			`:10:9: jobs[0].request.headers.Authorization: environment variable LEGACY_TOKEN is not set (give it a value or write ${LEGACY_TOKEN:-default})`,
		}},
		{"missing-job-name", []string{
			`:5:5: jobs[0].name: missing; every job needs a unique name`,
		}},
		{"missing-secret-file", []string{
			`:2:3: server.admin_token_file: "testdata/config/secrets/empty" is empty; expected the admin token in it`,
			`:6:5: destinations.hook.secret_file: cannot read "testdata/config/secrets/missing": no such file or directory`,
		}},
		{"missing-template-file", []string{
			`:4:5: destinations.hook.template_file: cannot read "testdata/config/templates/missing.tmpl": no such file or directory`,
			`:7:5: destinations.archive.template_file: "testdata/config/templates/empty.tmpl" is empty; expected the template in it`,
		}},
		{"multiple-documents", []string{
			`:5:1: a second YAML document; a configuration file holds exactly one (remove the ---)`,
		}},
		{"negative-jitter", []string{
			`:7:5: jobs[0].jitter: -3s is negative; expected 0 or a positive duration such as 3s`,
		}},
		{"no-destinations", []string{
			`:2:5: jobs[0].destinations: no destinations; a job needs at least one, and none are defined (add one under destinations:)`,
			`:10:20: jobs[1].destinations[0]: "hook" is not a defined destination; none are defined (add one under destinations:)`,
		}},
		{"no-jobs", []string{
			`:1:1: jobs: no jobs defined; expected at least one job with name, schedule, request.url and destinations`,
		}},
		{"non-positive-timeout", []string{
			`:4:5: destinations.hook.timeout: -1s is not positive; expected e.g. 10s`,
			`:5:13: destinations.hook.retry.initial_interval: 0s is not positive; expected e.g. 5s`,
			`:5:35: destinations.hook.retry.max_interval: 0s is not positive; expected e.g. 1h`,
			`:5:53: destinations.hook.retry.max_age: 0s is not positive; expected e.g. 72h`,
			`:11:7: jobs[0].request.timeout: 0s is not positive; expected e.g. 10s`,
		}},
		{"pagination-format", []string{
			`:16:5: jobs[0].pagination: cannot be combined with transform (pages are merged at the items path of each raw JSON page); remove one of them`,
			`:16:5: jobs[0].pagination: needs JSON pages, and response.format is xml; remove one of them`,
		}},
		{"pagination-options", []string{
			`:8:30: jobs[0].pagination.param: does not apply to type link; remove it`,
			`:8:43: jobs[0].pagination.size: does not apply to type link; remove it`,
			`:14:5: jobs[1].pagination.cursor_path: missing; type cursor needs the path of the next cursor in a page, e.g. meta.next`,
			`:14:5: jobs[1].pagination.param: missing; type cursor needs the query parameter to set for each page, e.g. cursor`,
			`:14:32: jobs[1].pagination.size_param: does not apply to type cursor; remove it`,
			`:20:32: jobs[2].pagination.cursor_path: path "meta..next" has an empty segment; expected a dotted field path such as meta.next`,
			`:26:5: jobs[3].pagination.param: missing; type page needs the query parameter to set for each page, e.g. page`,
			`:26:5: jobs[3].pagination.size: missing; type page needs the page size, e.g. 100 (a shorter page is the last)`,
			`:26:30: jobs[3].pagination.cursor_path: does not apply to type page; remove it`,
			`:32:47: jobs[4].pagination.size_param: "offset" is param too; expected another query parameter, e.g. per_page`,
			`:32:67: jobs[4].pagination.size: 0 is less than 1; expected the number of items in a full page, e.g. 100`,
			`:32:76: jobs[4].pagination.max_pages: 0 is less than 1; expected the most pages one poll fetches, e.g. 100`,
		}},
		{"pagination-type", []string{
			`:8:5: jobs[0].pagination.type: missing; expected link, cursor, page or offset`,
			`:14:18: jobs[1].pagination.type: "next" is not a pagination type; expected link, cursor, page or offset`,
			`:19:5: jobs[2].pagination: needs items (the path to each page's array; the pages' items are merged)`,
		}},
		{"ratio-out-of-range", []string{
			`:11:13: jobs[0].guard.max_deleted_ratio: 1.5 is outside 0..1; expected e.g. 0.5, or 0 to turn the guard off`,
			`:11:37: jobs[0].guard.confirm_polls: 0 is less than 1; expected e.g. 3`,
			`:18:13: jobs[1].guard.max_deleted_ratio: -0.1 is outside 0..1; expected e.g. 0.5, or 0 to turn the guard off`,
			`:18:38: jobs[1].guard.max_changed_ratio: 2 is outside 0..1; expected e.g. 0.8, or 0 to leave the number of changes unchecked`,
		}},
		{"retry-intervals", []string{
			`:5:7: destinations.hook.retry.initial_interval: 2h is longer than max_interval 1h; expected at most max_interval`,
			`:7:7: destinations.hook.retry.max_attempts: 0 is less than 1; expected e.g. 15`,
		}},
		{"secret-and-secret-file", []string{
			`:5:5: destinations.hook.secret_file: secret and secret_file are both set; keep one`,
		}},
		{"streams", []string{
			`:2:3: streams.retention: 0s is not positive; expected e.g. 1h`,
			`:3:3: streams.max_clients: 0 is less than 1; expected the clients connected at once, e.g. 100`,
			`:4:3: streams.buffer: 100001 is not between 1 and 100000; expected the events queued per client, e.g. 256`,
			`:5:3: streams.heartbeat: -1s is not positive; expected e.g. 15s`,
			`:7:7: streams.tokens[0].token: missing; expected the bearer token (token or token_file)`,
			`:9:7: streams.tokens[1].jobs: missing; expected the jobs this token may read, e.g. [orders] (the admin token reads every job)`,
			`:10:7: streams.tokens[2].token: is the same as streams.tokens[1]; expected a token of its own`,
			`:11:22: streams.tokens[2].jobs[1]: "order" is not a configured job; expected one of: orders`,
			`:13:7: streams.tokens[3].token_file: token and token_file are both set; keep one`,
		}},
		{"streams-no-token", []string{
			`:1:1: streams: no token can read the streams; set server.admin_token (every job) or streams.tokens (some jobs)`,
		}},
		{"template-and-format", []string{
			`:5:5: destinations.hook.template: a template and a format are both set; the template renders the whole body, so keep one`,
		}},
		{"template-and-template-file", []string{
			`:5:5: destinations.hook.template_file: template and template_file are both set; keep one`,
		}},
		{"template-syntax", []string{
			`:4:5: destinations.hook.template: template line 3: function "upper" not defined; expected a Go text/template, e.g. {"text": {{json .Type}}}`,
			`:11:5: destinations.archive.template_file: "templates/bad.tmpl" line 3: bad character U+007D '}'; expected a Go text/template, e.g. {"text": {{json .Type}}}`,
		}},
		{"tls", []string{
			`:7:5: jobs[0].tls: empty; expected ca_file, cert_file and key_file, or insecure_skip_verify`,
			`:12:11: jobs[1].tls.cert_file: needs key_file (the client certificate's private key)`,
			`:17:11: jobs[2].tls.key_file: needs cert_file (the client certificate of this key)`,
			`:22:34: jobs[3].tls.insecure_skip_verify: true turns off the verification that ca_file is for; keep one`,
			`:27:5: jobs[4].tls: applies only to https, and request.url is http; use an https URL or remove tls`,
		}},
		{"tls-files", []string{
			`:7:11: jobs[0].tls.ca_file: cannot read "testdata/config/certs/missing.pem": no such file or directory`,
			`:12:11: jobs[1].tls.ca_file: "testdata/config/certs/not-pem.txt" holds no PEM certificate; expected CA certificates (-----BEGIN CERTIFICATE-----)`,
			`:17:11: jobs[2].tls.cert_file: "testdata/config/certs/client.pem" and key_file "testdata/config/certs/other-key.pem" are not a key pair (tls: private key does not match public key); expected a PEM client certificate and its private key`,
			`:22:11: jobs[3].tls.cert_file: "testdata/config/certs/client.pem" and key_file "testdata/config/certs/ca.pem" are not a key pair (tls: found a certificate rather than a key in the PEM for the private key); expected a PEM client certificate and its private key`,
		}},
		{"unknown-destination", []string{
			`:11:33: jobs[0].destinations[1]: "order-hook" is not a defined destination; expected one of: audit, orders-hook`,
			`:11:45: jobs[0].destinations[2]: "orders-hook" is listed twice`,
		}},
		{"unknown-field", []string{
			`:1:1: destination: unknown field; expected one of: server, store, limits, destinations, jobs, streams`,
			`:9:20: jobs[0].destinations[0]: "hook" is not a defined destination; none are defined (add one under destinations:)`,
		}},
		{"unknown-nested-field", []string{
			`:4:13: destinations.hook.retry.max_attempt: unknown field; expected one of: initial_interval, max_interval, max_attempts, max_age`,
			`:10:7: jobs[0].request.tmeout: unknown field; expected one of: url, method, headers, body, timeout, max_body_size`,
		}},
		{"unsupported-format", []string{
			`:4:5: destinations.hook.format: "yaml" is not supported; expected json, xml or form`,
		}},
		{"url-credentials", []string{
			`:8:7: jobs[0].request.url: "ftp://legacy/orders?api_key=REDACTED&status=REDACTED" is not an absolute http or https URL; expected e.g. https://api.example.com/orders`,
			`:13:7: jobs[1].request.url: not a valid URL (not shown, it may hold credentials); expected an absolute http or https URL such as https://api.example.com/orders`,
		}},
		{"wrong-type", []string{
			`:2:3: store.sync_writes: "yes" is not a boolean; expected true or false`,
			`:5:5: destinations.hook.url: expected a string, got a list`,
			`:7:7: destinations.hook.retry.max_attempts: "many" is not a whole number; expected e.g. 3`,
			`:11:5: jobs[0].request: expected a mapping with fields url, method, headers, body, timeout, max_body_size, got a single value`,
			`:12:5: jobs[0].key: expected a field name or a list of field names, got a mapping`,
			`:13:5: jobs[0].emit_initial: "1" is not a boolean; expected true or false`,
			`:15:7: jobs[0].guard.max_deleted_ratio: "half" is not a number; expected e.g. 0.5`,
			`:16:5: jobs[0].destinations: expected a list, got a single value`,
		}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.rule] = true
		t.Run(tt.rule, func(t *testing.T) {
			name := "invalid-" + tt.rule + ".yaml"
			c, err := parseFile(t, name, nil)
			if c != nil {
				t.Errorf("Parse returned a Config along with the error")
			}
			if err == nil {
				t.Fatalf("no error")
			}
			file := filepath.Join("testdata", "config", name)
			want := file + strings.Join(tt.want, "\n"+file)
			if got := err.Error(); got != want {
				t.Errorf("error mismatch\n got:\n%s\nwant:\n%s", got, want)
			}
			var es Errors
			if !errors.As(err, &es) || len(es) != len(tt.want) {
				t.Errorf("error is %T with %d entries, want Errors with %d", err, len(es), len(tt.want))
			}
		})
	}
	// Every invalid file must be pinned above, or its rule is untested.
	files, err := filepath.Glob("testdata/config/invalid-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rule := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "invalid-"), ".yaml")
		if !seen[rule] {
			t.Errorf("%s has no entry in TestInvalidFiles", f)
		}
	}
}

// TestValidFiles parses every testdata/config/valid-*.yaml and compares
// its Redacted dump, defaults included, with a golden file (go test
// -update rewrites them).
func TestValidFiles(t *testing.T) {
	t.Chdir("..")
	files, err := filepath.Glob("testdata/config/valid-*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid files: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			c, err := parseFile(t, name, testEnv)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Redacted()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "config", "golden", strings.TrimSuffix(name, ".yaml")+".redacted.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(got) != string(want) {
				g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				i := 0
				for i < len(g) && i < len(w) && g[i] == w[i] {
					i++
				}
				t.Errorf("Redacted() differs from %s at line %d (go test -update rewrites it)\n got: %q\nwant: %q",
					golden, i+1, strings.Join(g[i:min(i+3, len(g))], "\n"), strings.Join(w[i:min(i+3, len(w))], "\n"))
			}
		})
	}
}

// TestExampleConfig keeps config.example.yaml valid with no environment at
// all, as the README promises.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("config.example.yaml", data, mapEnv(nil))
	if err != nil {
		t.Fatalf("config.example.yaml is invalid:\n%v", err)
	}
	j := c.Job("orders")
	if j == nil || j.Items != "data.orders" || !reflect.DeepEqual(j.Destinations, []string{"orders-hook"}) {
		t.Errorf("the example lost its orders job in items mode: %+v", j)
	}
	if d := c.Destinations["orders-hook"]; d == nil || d.Signature != "none" {
		t.Errorf("without ORDERS_HOOK_SECRET the example destination should be unsigned: %+v", d)
	}
}

// TestDefaults checks every default on the smallest configuration.
func TestDefaults(t *testing.T) {
	t.Chdir("..")
	c, err := parseFile(t, "valid-minimal.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	sync := true
	wantServer := Server{Listen: ":8080"}
	wantStore := Store{Path: "./data", SyncWrites: &sync}
	wantDest := &Destination{
		Name:      "hook",
		URL:       "https://hooks.example.com/in",
		Method:    "POST",
		Signature: "none",
		Format:    "json",
		Timeout:   Duration(10 * time.Second),
		Retry: Retry{
			InitialInterval: Duration(5 * time.Second),
			MaxInterval:     Duration(time.Hour),
			MaxAttempts:     15,
			MaxAge:          Duration(72 * time.Hour),
		},
		Concurrency: 4,
		Batch:       Batch{MaxEvents: 1, MaxWait: Duration(time.Second)},
	}
	wantJob := &Job{
		Name:     "status",
		Schedule: "*/5 * * * *",
		Request: Request{
			URL:         "http://legacy:8080/api/status",
			Method:      "GET",
			Timeout:     Duration(10 * time.Second),
			MaxBodySize: 10 << 20,
		},
		Guard:        Guard{MaxDeletedRatio: 0.5, ConfirmPolls: 3},
		Events:       []string{"changed"},
		Destinations: []string{"hook"},
		Backoff:      Backoff{Max: Duration(50 * time.Minute)}, // 10 × the 5 minutes between polls
		DownAfter:    3,
	}
	if !reflect.DeepEqual(c.Server, wantServer) {
		t.Errorf("server = %+v, want %+v", c.Server, wantServer)
	}
	if !reflect.DeepEqual(c.Store, wantStore) {
		t.Errorf("store = %+v (sync %v), want %+v", c.Store, *c.Store.SyncWrites, wantStore)
	}
	if got := c.Destinations["hook"]; !reflect.DeepEqual(got, wantDest) {
		t.Errorf("destination = %+v, want %+v", got, wantDest)
	}
	if got := c.Jobs[0]; !reflect.DeepEqual(got, wantJob) {
		t.Errorf("job = %+v, want %+v", got, wantJob)
	}
}

// TestDefaultsDependOnContent covers the defaults that follow from other
// values: the signature from the secret, the events from the mode.
func TestDefaultsDependOnContent(t *testing.T) {
	const doc = `
destinations:
  signed: {url: "https://h/1", secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]}
  unsigned: {url: "https://h/2", secret: "${EMPTY}"}
jobs:
  - {name: items, schedule: "@hourly", request: {url: "http://l/1"}, items: $, destinations: [signed]}
  - {name: document, schedule: "@hourly", request: {url: "http://l/2"}, destinations: [unsigned]}
`
	c, err := Parse("c.yaml", []byte(doc), mapEnv(map[string]string{"EMPTY": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Destinations["signed"].Signature; got != "standard" {
		t.Errorf("signed destination: signature %q, want standard", got)
	}
	if got := c.Destinations["unsigned"].Signature; got != "none" {
		t.Errorf("destination with an empty secret: signature %q, want none", got)
	}
	if got := c.Jobs[0].Events; !reflect.DeepEqual(got, []string{"created", "updated", "deleted"}) {
		t.Errorf("items-mode events %v", got)
	}
	if got := c.Jobs[1].Events; !reflect.DeepEqual(got, []string{"changed"}) {
		t.Errorf("document-mode events %v", got)
	}
}

// TestExplicitValuesBeatDefaults makes sure a value written in the file is
// kept even when it equals the type's zero value.
func TestExplicitValuesBeatDefaults(t *testing.T) {
	const doc = `
store: {sync_writes: false}
destinations:
  hook: {url: "https://h/1"}
jobs:
  - name: j
    schedule: "@hourly"
    request: {url: "http://l/1", method: post}
    items: $
    guard: {max_deleted_ratio: 0}
    destinations: [hook]
`
	c, err := Parse("c.yaml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if *c.Store.SyncWrites {
		t.Errorf("sync_writes: false was replaced by the default")
	}
	if got := c.Jobs[0].Guard.MaxDeletedRatio; got != 0 {
		t.Errorf("max_deleted_ratio: 0 became %v", got)
	}
	if got := c.Jobs[0].Request.Method; got != "POST" {
		t.Errorf("method post became %q, want POST", got)
	}
}

func TestSecretFiles(t *testing.T) {
	t.Chdir("..")
	c, err := parseFile(t, "valid-secret-file.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The trailing newline (and the CR of a CRLF file) is dropped.
	if got := string(c.Destinations["hook"].Secret); got != "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" {
		t.Errorf("secret from file = %q", got)
	}
	if got := string(c.Server.AdminToken); got != "admin-token-from-file" {
		t.Errorf("admin token from file = %q", got)
	}
	if got := c.Destinations["hook"].Signature; got != "standard" {
		t.Errorf("a secret from a file should default the signature to standard, got %q", got)
	}
}

func TestSecretFileRejectsNonRegularAndLarge(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ file, want string }{
		{dir, "cannot read %q: not a regular file"},
		{big, "cannot read %q: larger than 64 KiB; expected a file holding only the admin token"},
	}
	for _, tt := range tests {
		doc := "server: {admin_token_file: " + tt.file + "}\n"
		_, err := Parse("c.yaml", []byte(doc), nil)
		want := "c.yaml:1:1: jobs: no jobs defined; expected at least one job with name, schedule, request.url and destinations\n" +
			"c.yaml:1:10: server.admin_token_file: " + strings.ReplaceAll(tt.want, "%q", `"`+tt.file+`"`)
		if err == nil || err.Error() != want {
			t.Errorf("%s: got\n%v\nwant\n%s", tt.file, err, want)
		}
	}
}

// TestLoad reads a real file with the process environment and resolves a
// relative secret_file and template_file against the file's directory, not
// the working one. Unlike a secret, a template is kept byte for byte: its
// final line breaks may be part of the body.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("POLLHOOK_TEST_URL", "https://hooks.example.com/from-env")
	const tmpl = "{\"text\": {{json .Type}}}\r\n\n"
	for name, content := range map[string]string{
		"hook.secret":         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
		"templates/body.tmpl": tmpl,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc := `
destinations:
  hook: {url: "${POLLHOOK_TEST_URL}", secret_file: hook.secret}
  templated: {url: "https://h/1", template_file: templates/body.tmpl}
jobs:
  - {name: j, schedule: "@hourly", request: {url: "http://l/1"}, destinations: [hook, templated]}
`
	path := filepath.Join(dir, "pollhook.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Destinations["hook"]
	if d.URL != "https://hooks.example.com/from-env" || d.Secret == "" {
		t.Errorf("Load: url %q, secret set %v", d.URL, d.Secret != "")
	}
	if d := c.Destinations["templated"]; d.Template != tmpl || d.TemplateFile != "templates/body.tmpl" || d.ContentType != "application/json" || d.Format != "" {
		t.Errorf("Load: template %q, file %q, content type %q, format %q", d.Template, d.TemplateFile, d.ContentType, d.Format)
	}

	missing := filepath.Join(dir, "absent.yaml")
	if _, err := Load(missing); err == nil || err.Error() != "read config: open "+missing+": no such file or directory" {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestConfigAccessors(t *testing.T) {
	t.Chdir("..")
	c, err := parseFile(t, "valid-full.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.DestinationNames(); !reflect.DeepEqual(got, []string{"audit.v2", "orders-hook"}) {
		t.Errorf("DestinationNames() = %v", got)
	}
	if j := c.Job("prices"); j == nil || j.Schedule != "@hourly" {
		t.Errorf("Job(prices) = %+v", j)
	}
	if j := c.Job("nope"); j != nil {
		t.Errorf("Job(nope) = %+v, want nil", j)
	}
	got := c.Destinations["orders-hook"].SigningSecrets()
	want := []Secret{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24="}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SigningSecrets() = %d secrets, not the two configured", len(got))
	}
	if c.Destinations["audit.v2"].Name != "audit.v2" {
		t.Errorf("destination Name not filled from its key")
	}
}
