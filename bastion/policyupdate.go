package bastion

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/aymanbagabas/go-udiff"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// policyUpdate is the payload of an update_policy request: the whole new
// file, so what goes into force is exactly what was approved.
type policyUpdate struct {
	Text   string `json:"text"`
	SHA256 string `json:"sha256"`
}

// PolicyController keeps the policy in force in step with policies.yaml
// and with the approvals in the store. While multi-party approval is on,
// a changed file waits for approval (otherwise whoever can edit the file
// could turn the rule off alone); a pending change the file no longer
// holds is withdrawn; an approved change goes into force. Its owner calls
// Start once, then Run until the server stops.
type PolicyController struct {
	h   *PolicyHolder
	svc *mpa.Service
	log *slog.Logger
}

// NewPolicyController returns the controller of h's changes, filed with
// and approved through svc.
func NewPolicyController(h *PolicyHolder, svc *mpa.Service, log *slog.Logger) *PolicyController {
	h.controlled.Store(true)
	return &PolicyController{h: h, svc: svc, log: log}
}

// Holder is the policy in force the controller keeps.
func (c *PolicyController) Holder() *PolicyHolder { return c.h }

// CheckRecord is the mpa release check (see mpa.Service.SetPolicyCheck):
// it fails while the policy in force here is not the one on record.
func (c *PolicyController) CheckRecord(record []byte) error { return c.h.checkRecord(record) }

// Run reloads the file on SIGHUP and on changes, and puts each approved
// change into force, until ctx is done; it returns when both have
// stopped. Either failing is logged as it happens and the other goes on
// (a gate whose watch failed still applies approved changes); Run
// returns their errors once both have stopped.
func (c *PolicyController) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	var watchErr, applyErr error
	wg.Go(func() {
		if err := c.watch(ctx); err != nil {
			c.log.Error("policy watch stopped", "file", c.h.path, "err", err)
			watchErr = fmt.Errorf("policy watch: %w", err)
		}
	})
	wg.Go(func() {
		if err := c.applyApproved(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("policy updates stopped", "err", err)
			applyErr = fmt.Errorf("policy updates: %w", err)
		}
	})
	wg.Wait()
	return errors.Join(watchErr, applyErr)
}

// Reload loads the file again: a good file that differs from the policy
// in force goes into force, or, with approval on, waits for approval.
func (c *PolicyController) Reload(ctx context.Context) error {
	err := c.reload(ctx)
	c.h.noteReload(err)
	return err
}

func (c *PolicyController) reload(ctx context.Context) error {
	h := c.h
	data, p, err := h.readFile()
	if err != nil {
		c.withdraw(ctx, nil)
		return err
	}
	old := *h.text.Load()
	if bytes.Equal(old, data) {
		// The file is back to the policy in force: nothing to file, and
		// any change still waiting is one the file no longer holds.
		c.withdraw(ctx, data)
		return nil
	}
	held, err := c.hold(ctx, old, data)
	if err != nil {
		// Fail closed: a change that cannot be put up for approval
		// does not go into force.
		c.log.Error("policy change could not be held for approval; keeping the policy in force", "file", h.path, "err", err)
		return err
	}
	if !held {
		h.install(p, data)
	}
	return nil
}

// hold files the change from old to new for approval while multi-party
// approval is enabled, and reports whether it did; with approval off the
// change is recorded and goes into force.
func (c *PolicyController) hold(ctx context.Context, old, new []byte) (bool, error) {
	h, svc, log := c.h, c.svc, c.log
	settings, err := svc.Settings(ctx)
	if err != nil {
		return false, err
	}
	payload, sum, err := policyPayload(new)
	if err != nil {
		return false, err
	}
	if !settings.Enabled {
		// In force at once; the record is what a restarted gate
		// starts from. A change filed while MPA was on is moot.
		withdrawPolicyChanges(ctx, svc, payload, "multi-party approval is off; "+h.path+" went into force as it is", log)
		return false, svc.RecordPolicy(ctx, mpa.SystemActor, payload)
	}
	held, err := pendingFor(ctx, svc, payload)
	if err != nil {
		return false, err
	}
	if held {
		// This very change already waits; anything else waiting is
		// not what the file holds.
		withdrawPolicyChanges(ctx, svc, payload, "superseded by a newer edit of "+h.path, log)
		return true, nil
	}
	// An older change still waiting is superseded by this one: the
	// file no longer holds it. (Approved anyway, the store would
	// cancel it as stale; cancelling now keeps approvers from
	// reviewing it.)
	withdrawPolicyChanges(ctx, svc, payload, "superseded by a newer edit of "+h.path, log)
	name := filepath.Base(h.path)
	diff := udiff.Unified(name+" (in force)", name+" (changed)", string(old), string(new))
	r, err := svc.Create(ctx, mpa.NewRequest{
		Kind:      mpa.KindUpdatePolicy,
		Actions:   []mpa.ActionRef{mpa.ActionUpdatePolicy},
		Command:   diff,
		Requester: mpa.SystemActor,
		Reason:    fmt.Sprintf("%s changed on the gate host (sha256 %s)", h.path, sum[:16]),
		Payload:   payload,
	})
	if err != nil {
		return false, err
	}
	log.Warn("policy change held for approval", "file", h.path, "request", r.ID)
	return true, nil
}

// withdraw cancels each pending policy change that no longer matches
// file, the file's text after a reload (nil when it does not load), so
// approving it can never install a rule the file has lost.
func (c *PolicyController) withdraw(ctx context.Context, file []byte) {
	h, svc, log := c.h, c.svc, c.log
	if file == nil {
		withdrawPolicyChanges(ctx, svc, nil, h.path+" no longer loads", log)
		return
	}
	payload, _, err := policyPayload(file)
	if err != nil {
		log.Error("encode policy file", "file", h.path, "err", err)
		withdrawPolicyChanges(ctx, svc, nil, h.path+" could not be read back", log)
		return
	}
	withdrawPolicyChanges(ctx, svc, payload, h.path+" is back to the policy in force", log)
}

// pendingFor reports whether a pending update_policy request already
// carries payload.
func pendingFor(ctx context.Context, svc *mpa.Service, payload json.RawMessage) (bool, error) {
	pending, err := svc.List(ctx, mpa.ListFilter{Kind: mpa.KindUpdatePolicy, Statuses: []mpa.Status{mpa.StatusPending}})
	if err != nil {
		return false, err
	}
	for _, r := range pending {
		if bytes.Equal(r.Payload, payload) {
			return true, nil
		}
	}
	return false, nil
}

// withdrawPolicyChanges cancels every pending update_policy request whose
// payload is not keep (nil keeps none), recording why. Each cancellation
// is audited and reaches the approvers' feed and webhooks like any other.
// A failure is logged: the request then stays, and the store still
// cancels it as stale if it is approved after another change went in.
func withdrawPolicyChanges(ctx context.Context, svc *mpa.Service, keep json.RawMessage, why string, log *slog.Logger) {
	pending, err := svc.List(ctx, mpa.ListFilter{Kind: mpa.KindUpdatePolicy, Statuses: []mpa.Status{mpa.StatusPending}})
	if err != nil {
		log.Error("list pending policy changes", "err", err)
		return
	}
	for _, r := range pending {
		if keep != nil && bytes.Equal(r.Payload, keep) {
			continue
		}
		if _, err := svc.CancelBecause(ctx, r.ID, mpa.SystemActor, why); err != nil {
			log.Warn("could not withdraw a policy change the file no longer holds", "request", r.ID, "err", err)
			continue
		}
		log.Info("policy change withdrawn", "request", r.ID, "why", why)
	}
}

// policyPayload encodes policy text as the request payload and the record
// of the policy in force.
func policyPayload(text []byte) (json.RawMessage, string, error) {
	sum := sha256.Sum256(text)
	hexSum := hex.EncodeToString(sum[:])
	payload, err := json.Marshal(policyUpdate{Text: string(text), SHA256: hexSum})
	return payload, hexSum, err
}

// recordedText is the policy text a record carries: the policy on record
// (kept in the settings by RecordPolicy) is a policyPayload.
func recordedText(record []byte) ([]byte, error) {
	var rec policyUpdate
	if err := json.Unmarshal(record, &rec); err != nil {
		return nil, fmt.Errorf("policy on record: %w", err)
	}
	return []byte(rec.Text), nil
}

// checkRecord reports whether h enforces the policy record (the approved
// policy in the store). It is the mpa release check (see
// mpa.Service.SetPolicyCheck): with several gates on one store, a policy
// approved on one gate reaches the others through their change feeds,
// and a release must not overtake that.
func (h *PolicyHolder) checkRecord(record []byte) error {
	text, err := recordedText(record)
	if err != nil {
		return err
	}
	want := sha256.Sum256(text)
	have := sha256.Sum256(*h.text.Load())
	if want != have {
		return fmt.Errorf("in force here sha256 %.16s, approved %.16s", hex.EncodeToString(have[:]), hex.EncodeToString(want[:]))
	}
	return nil
}

// syncPolicy puts the approved policy on record into force on this gate
// if it is not already. An error leaves the policy in force unchanged,
// and releases stay refused (the check still fails).
func syncPolicy(ctx context.Context, h *PolicyHolder, svc *mpa.Service, log *slog.Logger) error {
	st, err := svc.Settings(ctx)
	if err != nil {
		return err
	}
	if !st.Enabled || len(st.Policy) == 0 || h.checkRecord(st.Policy) == nil {
		return nil
	}
	text, err := recordedText(st.Policy)
	if err != nil {
		return err
	}
	if err := h.Install(text); err != nil {
		return fmt.Errorf("approved policy on record does not load: %w", err)
	}
	log.Warn("policy in force replaced by the approved policy on record", "file", h.path)
	return nil
}

// Start makes the policy in force at start the one on record.
// While MPA is enabled that is the last approved policy: a file edited
// while the gate was down is held for approval like any other change,
// rather than taking effect because the gate restarted. With MPA off, or
// with no record yet, the file is in force and is recorded.
func (c *PolicyController) Start(ctx context.Context) error {
	h, svc, log := c.h, c.svc, c.log
	settings, err := svc.Settings(ctx)
	if err != nil {
		return err
	}
	file := *h.text.Load()
	if !settings.Enabled || len(settings.Policy) == 0 {
		payload, _, err := policyPayload(file)
		if err != nil {
			return err
		}
		c.withdraw(ctx, file)
		return svc.RecordPolicy(ctx, mpa.SystemActor, payload)
	}
	text, err := recordedText(settings.Policy)
	if err != nil {
		return err
	}
	if bytes.Equal(text, file) {
		// The file is the approved policy: a change filed before the
		// restart and since reverted is withdrawn.
		c.withdraw(ctx, file)
		return nil
	}
	if err := h.Install(text); err != nil {
		return fmt.Errorf("approved policy on record does not load: %w", err)
	}
	log.Warn("policy file differs from the approved policy; starting with the approved one and holding the change", "file", h.path)
	_, err = c.hold(ctx, text, file)
	return err
}

// applyApproved puts each update_policy request that completes into
// force, until ctx is done.
func (c *PolicyController) applyApproved(ctx context.Context) error {
	h, svc, log := c.h, c.svc, c.log
	updates, err := svc.WatchAll(ctx)
	if err != nil {
		return err
	}
	for r := range updates {
		if r.Kind != mpa.KindUpdatePolicy || r.Status != mpa.StatusCompleted {
			continue
		}
		// The feed may tell of an older change after this gate loaded a
		// newer one from the record (see syncPolicy): the record wins.
		if st, err := svc.Settings(ctx); err == nil && st.Enabled && len(st.Policy) > 0 && !bytes.Equal(st.Policy, r.Payload) {
			if err := syncPolicy(ctx, h, svc, log); err != nil {
				log.Error("approved policy on record does not load; keeping the policy in force (releases are refused)", "request", r.ID, "err", err)
			}
			continue
		}
		var u policyUpdate
		if err := json.Unmarshal(r.Payload, &u); err != nil {
			log.Error("approved policy update unreadable; keeping the policy in force", "request", r.ID, "err", err)
			continue
		}
		if err := h.Install([]byte(u.Text)); err != nil {
			log.Error("approved policy update does not load; keeping the policy in force", "request", r.ID, "err", err)
			continue
		}
		log.Info("policy updated from approved request", "request", r.ID)
	}
	return nil
}

// watch reloads on SIGHUP and on changes to the file until ctx is done.
// Editors often replace a file rather than write it, so the directory is
// watched and events are filtered by name; a burst of events (write,
// chmod, rename) settles for a moment before one reload.
func (c *PolicyController) watch(ctx context.Context) error {
	h := c.h
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
			c.Reload(ctx)
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
			c.Reload(ctx)
		}
	}
}
