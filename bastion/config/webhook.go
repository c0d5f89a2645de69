package config

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
)

// validHookName allows a host:port, the default name.
var validHookName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._:-]*$`)

// checkWebhook checks a webhook's URL, reads its secret and names it.
func (v *validator) checkWebhook(w *Webhook, p string, seen map[string]bool) {
	u, err := url.Parse(w.URL)
	switch {
	case w.URL == "":
		v.errorf(v.at(p+".url"), "%s.url: the endpoint's URL is required", p)
	case err != nil:
		// url.Error repeats the URL, which may hold a token: say less.
		v.errorf(v.at(p+".url"), "%s.url: not a URL", p)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		v.errorf(v.at(p+".url"), "%s.url: want an http:// or https:// URL with a host", p)
	}
	if w.Name == "" && err == nil {
		w.Name = u.Host
	}
	switch {
	case w.Name != "" && !validHookName.MatchString(w.Name):
		v.errorf(v.at(p+".name"), "%s.name: want letters, digits, '.', ':', '_' or '-', got %q", p, w.Name)
	case w.Name != "" && seen[w.Name]:
		v.errorf(v.at(p+".name"), "%s.name: webhook %q defined twice (give each a name)", p, w.Name)
	}
	seen[w.Name] = true
	if w.SecretFile == "" {
		v.errorf(v.at(p+".secret_file"), "%s.secret_file: a file holding the signing key is required", p)
	} else {
		b, err := os.ReadFile(w.SecretFile)
		b = bytes.TrimSpace(b)
		switch {
		case err != nil:
			v.errorf(v.at(p+".secret_file"), "%s.secret_file: %v", p, err)
		case len(b) < 16:
			v.errorf(v.at(p+".secret_file"), "%s.secret_file: the key has %d bytes; want at least 16", p, len(b))
		}
		w.secret = b
	}
	for j, e := range w.Events {
		if !slices.Contains(WebhookEvents, e) {
			v.errorf(v.at(fmt.Sprintf("%s.events[%d]", p, j)), "%s.events[%d]: unknown event %q (want one of %v)", p, j, e, WebhookEvents)
		}
	}
	if w.Attempts < 0 {
		v.errorf(v.at(p+".attempts"), "%s.attempts: want a positive number, got %d", p, w.Attempts)
	}
	if w.Queue < 0 {
		v.errorf(v.at(p+".queue"), "%s.queue: want a positive number, got %d", p, w.Queue)
	}
}
