package bastion

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/keyturn/keyturn/policy"
)

// PolicyHolder is the policy in force. It reloads the file on SIGHUP and when
// the file changes; a file that does not load is reported and the last good
// policy stays in force.
type PolicyHolder struct {
	path string
	log  *slog.Logger
	cur  atomic.Pointer[policy.Policy]
	text atomic.Pointer[[]byte] // the file text of cur
	// problem is why the file on disk did not load at the last reload,
	// nil once it loads again (see noteReload).
	problem atomic.Pointer[string]
	// reloaded, if set, is told the outcome of every reload attempt.
	reloaded func(error)
	// hold, if set, is asked before a changed file goes into force; when
	// it holds the change (multi-party approval is on), the change waits
	// for approval and Install puts it in force.
	hold func(old, new []byte) (held bool, err error)
	// withdraw, if set, is told the file's text after every reload
	// attempt (nil when the file does not load): it cancels each pending
	// policy change that no longer matches the file, so approving it can
	// never install a rule the file has lost.
	withdraw func(file []byte)
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

// Reload loads the file again and puts it in force if it is good, unless
// the change is held for approval.
func (h *PolicyHolder) Reload() error {
	err := h.reload()
	h.noteReload(err)
	if h.reloaded != nil {
		h.reloaded(err)
	}
	return err
}

func (h *PolicyHolder) reload() error {
	data, err := os.ReadFile(h.path)
	if err != nil {
		h.log.Error("policy reload failed; keeping the last good policy", "file", h.path, "err", err)
		h.withdrawStale(nil)
		return err
	}
	p, err := policy.Parse(h.path, data)
	if err != nil {
		h.log.Error("policy reload failed; keeping the last good policy", "file", h.path, "err", err)
		h.withdrawStale(nil)
		return err
	}
	old := *h.text.Load()
	if bytes.Equal(old, data) {
		// The file is back to the policy in force: nothing to file, and
		// any change still waiting is one the file no longer holds.
		h.withdrawStale(data)
		return nil
	}
	if h.hold != nil {
		held, err := h.hold(old, data)
		if err != nil {
			// Fail closed: a change that cannot be put up for approval
			// does not go into force.
			h.log.Error("policy change could not be held for approval; keeping the policy in force", "file", h.path, "err", err)
			return err
		}
		if held {
			return nil
		}
	}
	h.install(p, data)
	return nil
}

func (h *PolicyHolder) withdrawStale(file []byte) {
	if h.withdraw != nil {
		h.withdraw(file)
	}
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

// Watch reloads on SIGHUP and on changes to the file until ctx is done.
// Editors often replace a file rather than write it, so the directory is
// watched and events are filtered by name; a burst of events (write,
// chmod, rename) settles for a moment before one reload.
func (h *PolicyHolder) Watch(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(h.path)); err != nil {
		return err
	}
	name := filepath.Clean(h.path)

	const settle = 100 * time.Millisecond
	timer := time.NewTimer(settle)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			h.log.Info("SIGHUP: reloading policy", "file", h.path)
			h.Reload()
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) == name && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				timer.Reset(settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			h.log.Warn("policy watch error", "file", h.path, "err", err)
		case <-timer.C:
			h.Reload()
		}
	}
}

// Actions lists the privileged actions of the policy in force.
func (h *PolicyHolder) Actions() []policy.Action { return h.cur.Load().Actions() }
