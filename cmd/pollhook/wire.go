package main

import (
	"net/http"
	"time"

	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/pusher"
)

// This file maps the configuration onto each package's own plain types, so
// that no package below cmd/ depends on the config schema.

func pusherDestinations(cfg *config.Config) []pusher.Destination {
	var out []pusher.Destination
	for _, name := range cfg.DestinationNames() {
		d := cfg.Destinations[name]
		var secrets []string
		for _, s := range d.SigningSecrets() {
			secrets = append(secrets, string(s))
		}
		out = append(out, pusher.Destination{
			Name:      name,
			URL:       d.URL,
			Method:    d.Method,
			Header:    d.Headers,
			Secrets:   secrets,
			Signature: d.Signature,
			Format:    d.Format,
			Timeout:   time.Duration(d.Timeout),
			Retry: pusher.RetryPolicy{
				InitialInterval: time.Duration(d.Retry.InitialInterval),
				MaxInterval:     time.Duration(d.Retry.MaxInterval),
				MaxAttempts:     d.Retry.MaxAttempts,
				MaxAge:          time.Duration(d.Retry.MaxAge),
			},
			Template:     d.Template,
			ContentType:  d.ContentType,
			Concurrency:  d.Concurrency,
			RateLimit:    d.RateLimit,
			SuccessCodes: d.SuccessCodes,
			Events:       d.Events,
			Batch: pusher.BatchPolicy{
				MaxEvents: d.Batch.MaxEvents,
				MaxWait:   time.Duration(d.Batch.MaxWait),
			},
		})
	}
	return out
}

func differSpec(j *config.Job) differ.Spec {
	return differ.Spec{
		Items:       j.Items,
		Key:         j.Key,
		Ignore:      j.Ignore,
		EmitInitial: j.EmitInitial,
		Events:      j.Events,
		Guard: differ.Guard{
			MaxDeletedRatio: j.Guard.MaxDeletedRatio,
			ConfirmPolls:    j.Guard.ConfirmPolls,
			MaxChangedRatio: j.Guard.MaxChangedRatio,
		},
		Format:    j.Response.Format,
		Transform: j.Transform,
		When:      j.When,
		Unordered: j.Unordered,
		Debounce:  j.Debounce,
	}
}

func pollRequest(j *config.Job) poller.Request {
	h := make(http.Header, len(j.Request.Headers))
	for k, v := range j.Request.Headers {
		h.Set(k, v)
	}
	var body []byte
	if j.Request.Body != "" {
		body = []byte(j.Request.Body)
	}
	return poller.Request{
		Method:       j.Request.Method,
		URL:          j.Request.URL,
		Header:       h,
		Body:         body,
		Timeout:      time.Duration(j.Request.Timeout),
		MaxBodyBytes: int64(j.Request.MaxBodySize),
	}
}
