package mpacli_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/config"
	"github.com/keyturn/keyturn/bastion/internal/svctest"
	"github.com/keyturn/keyturn/bastion/mpa/mpatest"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/mpacli"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
	"github.com/keyturn/keyturn/policy"
)

const testPolicy = `version: 1
defaults:
  required_approvals: 2
  pending_ttl: 24h
  approval_ttl: 1h
  reason: optional
unresolved: hold
shell: deny
trusted_paths: [/usr/bin, /bin]
actions:
  - name: kill_process
    service: process
    description: Terminate processes
    match:
      - command: [kill, pkill]
  - name: delete_snapshot
    service: snapshot
    description: Destroy snapshots
    reason: required
    targets: ["db-*"]
    match:
      - command: zfs
        args: [destroy]
deny:
  - name: wipe_root
    match:
      - command: rm
        args: ["-rf", "/"]
`

// roles are the test users' gate roles.
var roles = map[string][]config.Role{
	"alice":   {config.RoleAdmin},
	"bob":     {config.RoleApprover},
	"carol":   {config.RoleApprover},
	"dave":    {config.RoleApprover},
	"erin":    {config.RoleAdmin, config.RoleApprover},
	"frank":   {config.RoleAdmin},
	"ivy":     {config.RoleAuditor},
	"mallory": nil,
}

// harness is a real Service on an in-memory Badger store, a real policy
// and a fake clock: the CLI runs against exactly what the gate gives it.
type harness struct {
	t       *testing.T
	ctx     context.Context
	clock   *mpatest.Clock
	store   *badgerstore.Store
	svc     *mpa.Service
	pol     *policy.Policy
	secrets map[string]string

	mu       sync.Mutex
	released []string // "user:id" for every Release call
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	f := svctest.New(t)
	pol, err := policy.Parse("policies.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	return &harness{
		t: t, ctx: context.Background(), clock: f.Clock, store: f.Store, pol: pol,
		svc:     f.Svc,
		secrets: map[string]string{},
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs `mpa ARGS` as user.
func (h *harness) run(user string, args ...string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	env := mpacli.Env{
		User: user, Roles: roles[user], Stdout: &out, Stderr: &errb,
		Service: h.svc, Policy: h.pol, Now: h.clock.Now,
		CanReach: func(target string) bool { return target != "forbidden" },
		Release: func(ctx context.Context, id string) int {
			h.mu.Lock()
			h.released = append(h.released, user+":"+id)
			h.mu.Unlock()
			return 42
		},
	}
	code := mpacli.Run(h.ctx, env, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// must runs and fails the test unless it exits 0.
func (h *harness) must(user string, args ...string) result {
	h.t.Helper()
	r := h.run(user, args...)
	if r.code != 0 {
		h.t.Fatalf("mpa %s as %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), user, r.code, r.stdout, r.stderr)
	}
	return r
}

func (h *harness) code(user string) string {
	h.t.Helper()
	return mpatest.Oathtool(h.t, h.secrets[user], h.clock.Now())
}

// step moves to the next TOTP step so an approver may use a fresh code.
func (h *harness) step() { h.clock.Advance(30 * time.Second) }

var secretLine = regexp.MustCompile(`(?m)^secret:\s+([A-Z2-7]+)$`)

// initiate runs initiate-registration and keeps the printed secret.
func (h *harness) initiate(user string, extra ...string) result {
	h.t.Helper()
	r := h.must(user, append([]string{"initiate-registration"}, extra...)...)
	m := secretLine.FindStringSubmatch(r.stdout)
	if m == nil {
		h.t.Fatalf("no secret in initiate-registration output:\n%s", r.stdout)
	}
	h.secrets[user] = m[1]
	return r
}

// register makes users approvers through the CLI (MPA disabled).
func (h *harness) register(users ...string) {
	h.t.Helper()
	for _, u := range users {
		h.initiate(u)
		r := h.must(u, "complete-registration", "--totp-code", h.code(u))
		if !strings.Contains(r.stdout, "Approver registered: "+u) {
			h.t.Fatalf("complete-registration %s: %s", u, r.stdout)
		}
	}
	h.step()
}

// enable registers bob and carol and enables MPA.
func (h *harness) enable() {
	h.t.Helper()
	h.register("bob", "carol")
	h.must("alice", "settings", "global", "modify", "--enable=true")
}

var createdID = regexp.MustCompile(`Created request (req-[0-9a-f]+)`)

// create has alice create a held kill request and returns its id.
func (h *harness) create() string {
	h.t.Helper()
	r := h.must("alice", "requests", "create", "--target", "web-1", "--reason", "stuck worker", "--", "kill -9 4242")
	m := createdID.FindStringSubmatch(r.stdout)
	if m == nil {
		h.t.Fatalf("no request id in:\n%s", r.stdout)
	}
	return m[1]
}

func (h *harness) releases() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.released...)
}
