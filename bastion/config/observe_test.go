package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// base is a valid config to which the tests add metrics, audit and
// webhook settings.
const base = `users:
  - name: alice
    keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]
`

// inDir writes a webhook secret to a fresh directory and returns the
// config path there, so relative paths resolve against it.
func inDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hook.secret"), []byte("a-secret-of-32-bytes-or-so-.....\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "short.secret"), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "keyturn.yaml")
}

func TestObservabilityGood(t *testing.T) {
	name := inDir(t)
	c, err := Parse(name, []byte(base+`metrics:
  listen: 127.0.0.1:9222
audit:
  file: audit.jsonl
webhooks:
  - url: http://127.0.0.1:8080/hook?token=x
    secret_file: hook.secret
  - name: chat
    url: https://chat.example/hooks/T1
    secret_file: hook.secret
    events: [request.created, request.approved]
    timeout: 3s
    attempts: 2
    queue: 10
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	dir := filepath.Dir(name)
	if c.Metrics.Listen != "127.0.0.1:9222" {
		t.Errorf("Metrics.Listen = %q", c.Metrics.Listen)
	}
	if want := filepath.Join(dir, "audit.jsonl"); c.Audit.File != want {
		t.Errorf("Audit.File = %q; want %q (relative to the config)", c.Audit.File, want)
	}
	type hook struct {
		Name, Secret string
		Events       []string
		Timeout      time.Duration
		Attempts     int
		Queue        int
	}
	var got []hook
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		got = append(got, hook{w.Name, string(w.Secret()), w.Events, w.Timeout.Std(), w.Attempts, w.Queue})
	}
	want := []hook{
		{"127.0.0.1:8080", "a-secret-of-32-bytes-or-so-.....", nil, DefaultWebhookTimeout, DefaultWebhookAttempts, DefaultWebhookQueue},
		{"chat", "a-secret-of-32-bytes-or-so-.....", []string{"request.created", "request.approved"}, 3 * time.Second, 2, 10},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}
}

// Metrics, audit file and webhooks are off unless configured.
func TestObservabilityOff(t *testing.T) {
	c, err := Parse(inDir(t), []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics.Listen != "" || c.Audit.File != "" || len(c.Webhooks) != 0 {
		t.Errorf("defaults: metrics %q, audit file %q, %d webhooks; want all off", c.Metrics.Listen, c.Audit.File, len(c.Webhooks))
	}
}

func TestObservabilityErrors(t *testing.T) {
	name := inDir(t)
	_, err := Parse(name, []byte(base+`metrics:
  listen: "9222"
webhooks:
  - url: ftp://example.com/x
    secret_file: hook.secret
    events: [request.created, request.exploded]
  - url: http://127.0.0.1:8080/a
  - name: a
    url: http://127.0.0.1:8080/b
    secret_file: short.secret
    attempts: -1
  - name: a
    url: http://127.0.0.1:8080/c
    secret_file: missing.secret
`))
	if err == nil {
		t.Fatal("Parse = nil error")
	}
	dir := filepath.Dir(name)
	want := []string{
		name + `:5:11: metrics.listen: want host:port, got "9222"`,
		name + `:7:10: webhooks[0].url: want an http:// or https:// URL with a host`,
		name + `:9:31: webhooks[0].events[1]: unknown event "request.exploded" (want one of [request.created request.approved request.rejected request.cancelled request.expired request.completed request.interrupted])`,
		name + `:10:5: webhooks[1].secret_file: a file holding the signing key is required`,
		name + `:13:18: webhooks[2].secret_file: the key has 5 bytes; want at least 16`,
		name + `:14:15: webhooks[2].attempts: want a positive number, got -1`,
		name + `:15:11: webhooks[3].name: webhook "a" defined twice (give each a name)`,
		name + `:17:18: webhooks[3].secret_file: open ` + filepath.Join(dir, "missing.secret") + `: no such file or directory`,
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}
}

// The strict decoder rejects a misspelt field in the new sections too.
func TestObservabilityUnknownField(t *testing.T) {
	name := inDir(t)
	_, err := Parse(name, []byte(base+`webhooks:
  - url: http://127.0.0.1:8080/a
    secret: hunter2
`))
	if want := name + `:6:5: webhooks[0]: unknown field "secret"; did you mean "secret_file"?`; err == nil || err.Error() != want {
		t.Errorf("Parse = %v; want %s", err, want)
	}
}
