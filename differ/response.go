package differ

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DiffResponse is Diff for a response as it came from the source: it reads
// the body in the job's format (response.format, or by contentType),
// applies the job's transform, and completes each change with its merge
// patch (JSON, XML and CSV) or its unified diff (text).
//
// The format is taken from Content-Type for XML and CSV; every other type
// is read as JSON unless the job says format: text. Text is never guessed,
// because an HTML error page from a JSON API must fail the poll, not be
// compared as a new text document.
func (d *Differ) DiffResponse(ctx context.Context, prev *State, body []byte, contentType string) (*Result, error) {
	format := d.format(contentType)
	if format == "json" && d.transform == nil {
		return d.finish(d.Diff(prev, body))
	}
	sum := sha256.Sum256(body)
	if old := d.comparable(prev); old != nil && old.body == sum {
		return d.DiffSum(prev, body, sum) // the very same body: nothing to read
	}
	doc, err := d.read(ctx, format, body)
	if err != nil {
		return nil, err
	}
	res, err := d.diffSum(prev, doc, sum, format == "xml")
	if format == "text" {
		return textChanges(res, err)
	}
	return d.finish(res, err)
}

// format is the format of one response.
func (d *Differ) format(contentType string) string {
	if d.spec.Format != "" {
		return d.spec.Format
	}
	if f := FormatFromContentType(contentType); f == "xml" || f == "csv" {
		return f
	}
	return "json"
}

// read turns the body into the JSON document the comparison works on.
func (d *Differ) read(ctx context.Context, format string, body []byte) ([]byte, error) {
	var doc []byte
	var err error
	switch format {
	case "xml":
		doc, err = xmlToJSON(body)
	case "csv":
		doc, err = csvToJSON(body)
	case "text":
		return json.Marshal(textDocument(body))
	default:
		doc = body
	}
	if err != nil {
		return nil, err
	}
	if d.transform != nil {
		if doc, err = d.transform.apply(ctx, doc); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// finish adds the RFC 7386 merge patch to every change that has a before
// and an after.
func (d *Differ) finish(res *Result, err error) (*Result, error) {
	if err != nil {
		return nil, err
	}
	for i := range res.Changes {
		c := &res.Changes[i]
		if c.Before == nil || c.After == nil {
			continue
		}
		mp, err := mergePatch(c.Before, c.After)
		if err != nil {
			return nil, fmt.Errorf("merge patch of %s: %w", eventLabel(c.Type, c.Key), err)
		}
		c.MergePatch = mp
	}
	return res, nil
}

// textChanges turns the document changes of a text job into text events:
// before and after stay JSON strings, and the unified diff replaces the
// JSON patch.
func textChanges(res *Result, err error) (*Result, error) {
	if err != nil {
		return nil, err
	}
	for i := range res.Changes {
		c := &res.Changes[i]
		var before, after string
		if c.Before != nil {
			if err := json.Unmarshal(c.Before, &before); err != nil {
				return nil, fmt.Errorf("text document: %w", err)
			}
		}
		if err := json.Unmarshal(c.After, &after); err != nil {
			return nil, fmt.Errorf("text document: %w", err)
		}
		c.Patch = nil
		if c.Before != nil {
			c.Diff = unifiedDiff(before, after)
		}
	}
	return res, nil
}

// Keep reports whether the change meets the job's when: condition (always
// true without one). A condition that fails on the change (a field of a
// missing before, say) does not keep it, and the error says why.
func (d *Differ) Keep(job string, c Change) (bool, error) {
	if d.when == nil {
		return true, nil
	}
	return d.when.match(c.Type, job, c.Key, c.Before, c.After)
}

// compileOptions checks and compiles the options that shape how responses
// are read: format, transform and when.
func (d *Differ) compileOptions() []error {
	var errs []error
	switch f := d.spec.Format; {
	case f != "" && !slices.Contains(Formats, f):
		errs = append(errs, fmt.Errorf("format: %q is not one of %s", f, strings.Join(Formats, ", ")))
	case f == "text" && d.kind != kindDocument:
		errs = append(errs, errors.New("format: text documents are compared whole; items does not apply"))
	case f == "text" && d.spec.Transform != "":
		errs = append(errs, errors.New("format: text documents are not JSON; transform does not apply"))
	}
	if d.spec.Transform != "" {
		t, err := compileTransform(d.spec.Transform)
		if err != nil {
			errs = append(errs, err)
		}
		d.transform = t
	}
	if d.spec.When != "" {
		w, err := compileWhen(d.spec.When)
		if err != nil {
			errs = append(errs, err)
		}
		d.when = w
	}
	return errs
}
