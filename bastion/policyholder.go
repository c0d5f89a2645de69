package bastion

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/keyturn/keyturn/policy"
)

// PolicyHolder is the policy in force and the text it was loaded from.
// Alone it puts every good reload into force; under a [PolicyController]
// (the gate's assembly makes one whenever there is a store) a changed file
// waits for approval instead, and the controller reloads the file on
// SIGHUP and on changes. A file that does not load is reported and the
// last good policy stays in force.
type PolicyHolder struct {
	path string
	log  *slog.Logger
	cur  atomic.Pointer[policy.Policy]
	text atomic.Pointer[[]byte] // the file text of cur
	// problem is why the file on disk did not load at the last reload,
	// nil once it loads again (see noteReload).
	problem atomic.Pointer[string]
	// controlled is set once a [PolicyController] keeps this holder: from
	// then on a changed file goes into force only through it (approval),
	// and Reload refuses rather than install it.
	controlled atomic.Bool
}

// LoadPolicy loads path and returns a holder for it. A broken file at start
// is an error: the gate does not start without a policy.
func LoadPolicy(path string, log *slog.Logger) (*PolicyHolder, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	p, err := policy.Parse(path, data)
	if err != nil {
		return nil, err
	}
	h := &PolicyHolder{path: path, log: log}
	h.cur.Store(p)
	h.text.Store(&data)
	return h, nil
}

// Decide decides with the policy in force.
func (h *PolicyHolder) Decide(in policy.Input) policy.Decision {
	return h.cur.Load().Decide(in)
}

// Current returns the policy in force.
func (h *PolicyHolder) Current() *policy.Policy { return h.cur.Load() }

// Reload loads the file again and puts it in force if it is good. It is
// for a holder without a controller; under one, [PolicyController.Reload]
// decides what becomes of a change, and Reload fails closed: the holder
// is exported (server.Server.Policy), and a reload through it must not
// put a change in force that approval would hold.
func (h *PolicyHolder) Reload() error {
	if h.controlled.Load() {
		h.log.Error("policy reload refused: this policy is kept by its controller; changes wait for approval", "file", h.path)
		return errControlledReload
	}
	data, p, err := h.readFile()
	h.noteReload(err)
	if err != nil {
		return err
	}
	if !bytes.Equal(*h.text.Load(), data) {
		h.install(p, data)
	}
	return nil
}

// errControlledReload is Reload's refusal on a holder a controller keeps.
var errControlledReload = errors.New("policy: reload through the policy controller: changes to the file wait for approval")

// readFile reads and parses the file; a failure is logged, and the
// policy in force stays.
func (h *PolicyHolder) readFile() ([]byte, *policy.Policy, error) {
	data, err := os.ReadFile(h.path)
	if err != nil {
		h.log.Error("policy reload failed; keeping the last good policy", "file", h.path, "err", err)
		return nil, nil, err
	}
	p, err := policy.Parse(h.path, data)
	if err != nil {
		h.log.Error("policy reload failed; keeping the last good policy", "file", h.path, "err", err)
		return nil, nil, err
	}
	return data, p, nil
}

// Install puts approved policy text in force.
func (h *PolicyHolder) Install(text []byte) error {
	p, err := policy.Parse(h.path, text)
	if err != nil {
		return err
	}
	h.install(p, text)
	return nil
}

func (h *PolicyHolder) install(p *policy.Policy, text []byte) {
	h.cur.Store(p)
	h.text.Store(&text)
	h.log.Info("policy in force", "file", h.path, "actions", len(p.Actions()))
}

// Actions lists the privileged actions of the policy in force.
func (h *PolicyHolder) Actions() []policy.Action { return h.cur.Load().Actions() }
