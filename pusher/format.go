package pusher

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// checkShape validates how d's requests are shaped (method, format,
// template, content type, batching), normalises Method and Format, and
// parses the template. newDestination prefixes its errors with the
// destination's name.
func checkShape(d *Destination) (*bodyTemplate, error) {
	d.Method = strings.ToUpper(d.Method)
	switch d.Method {
	case "":
		d.Method = http.MethodPost
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return nil, fmt.Errorf("method %q is not GET, POST, PUT or PATCH", d.Method)
	}
	switch d.Format {
	case "":
		// GET has no body: the event travels as form fields in the URL.
		d.Format = "json"
		if d.Method == http.MethodGet {
			d.Format = "form"
		}
	case "json", "xml", "form":
	default:
		return nil, fmt.Errorf("format %q is not json, xml or form", d.Format)
	}
	batch := d.Batch.MaxEvents > 1
	if d.Method == http.MethodGet {
		switch {
		case d.Format != "form":
			return nil, fmt.Errorf("method GET sends the form fields in the query string: format %s needs POST, PUT or PATCH", d.Format)
		case d.Template != "":
			return nil, errors.New("method GET sends no body: a template needs POST, PUT or PATCH")
		case batch:
			// Fields of many events in one URL would need a naming scheme
			// receivers do not share, and a URL that outgrows what servers
			// accept (often 8 KiB) fails on every retry.
			return nil, errors.New("method GET sends one event's fields in the query string: batch needs POST, PUT or PATCH")
		}
	}
	if d.Format == "form" && batch {
		return nil, errors.New("format form holds the fields of one event: batch needs format json or xml, or a template")
	}
	if d.Template == "" {
		if d.ContentType != "" {
			return nil, errors.New("content_type without a template: the formats set their own")
		}
		return nil, nil
	}
	if d.Format != "json" { // json, the default, is the one a template may leave set
		return nil, fmt.Errorf("template and format %s both shape the body: keep one", d.Format)
	}
	return parseTemplate(d.Template, d.ContentType)
}

// withQuery returns rawURL with query appended to its own query string;
// the fragment is dropped, since it is never sent.
func withQuery(rawURL, query string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery != "" && query != "" {
		u.RawQuery += "&" + query
	} else {
		u.RawQuery += query
	}
	return u.String(), nil
}
