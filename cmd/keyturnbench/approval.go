package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// heldCommand is privileged under the shipped policy (kill_process, two
// approvals). Its first word prints the target's clock the moment the
// command starts there.
const heldCommand = `date +%s%N; kill -0 $$`

// Approval is the approval-to-execution measurement.
type Approval struct {
	Requests int    `json:"requests"`
	Quorum   int    `json:"quorum"`
	Latency  Dist   `json:"latency"`
	Method   string `json:"method"`
}

const approvalMethod = "from the time of the request.approved audit event (stamped inside the approval's store transaction, " +
	"just before its synced commit) to `date +%s%N`, the held command's first word, on the target; same host, same clock"

// approver is a registered approver and the last TOTP step it used: the
// gate accepts only codes of a later step than the last one, so the
// harness spreads approvals over many approvers.
type approver struct {
	name     string
	secret   string
	lastStep int64
}

const totpPeriod = 30

func step(t time.Time) int64 { return t.Unix() / totpPeriod }

func code(secret string, s int64) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totp.ValidateOpts{
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
}

// gateCmd runs a gate command as user.
func (e *env) gateCmd(ctx context.Context, user string, args ...string) ([]byte, error) {
	a := append([]string{"-i", filepath.Join(e.dir, "keys", user), "-l", user, "gatecmd"}, args...)
	_, out, err := e.ssh(ctx, 30*time.Second, "aes", a...)
	return out, err
}

var secretRE = regexp.MustCompile(`secret=([A-Z2-7]+)`)

// registerApprovers registers every approver with a code of the previous
// step, so each can approve at once with the current step and the next,
// then enables MPA.
func registerApprovers(ctx context.Context, e *env) ([]*approver, error) {
	var as []*approver
	for _, name := range e.approvers {
		out, err := e.gateCmd(ctx, name, "mpa", "initiate-registration")
		if err != nil {
			return nil, err
		}
		m := secretRE.FindSubmatch(out)
		if m == nil {
			return nil, fmt.Errorf("initiate-registration for %s printed no otpauth secret", name)
		}
		a := &approver{name: name, secret: string(m[1])}
		for try := 0; ; try++ {
			s := step(time.Now()) - 1
			c, err := code(a.secret, s)
			if err != nil {
				return nil, err
			}
			_, err = e.gateCmd(ctx, name, "mpa", "complete-registration", "--totp-code", c)
			if err == nil {
				a.lastStep = s
				break
			}
			if try == 1 { // one retry covers a step boundary between code and check
				return nil, err
			}
		}
		as = append(as, a)
	}
	if _, err := e.gateCmd(ctx, as[0].name, "mpa", "settings", "global", "modify", "--enable=true"); err != nil {
		return nil, err
	}
	return as, nil
}

// nextApprover picks an approver who still has a step the gate accepts
// now (up to one step ahead), other than skip.
func nextApprover(as []*approver, skip *approver) (*approver, int64, error) {
	cur := step(time.Now())
	for _, a := range as {
		if a == skip {
			continue
		}
		if s := max(a.lastStep+1, cur); s <= cur+1 {
			return a, s, nil
		}
	}
	return nil, 0, errors.New("every approver has used its TOTP steps; register more (--approvers)")
}

var requestRE = regexp.MustCompile(`request (req-[0-9a-f]+) needs (\d+) approval`)

// approvals holds n requests one after another, approves each with a
// quorum of distinct approvers over ssh, and pairs the gate's audit time of
// the approval with the command's start time on the target.
func approvals(ctx context.Context, e *env, n int) (Approval, error) {
	res := Approval{Method: approvalMethod}
	as, err := registerApprovers(ctx, e)
	if err != nil {
		return res, fmt.Errorf("register approvers: %w", err)
	}
	since := time.Now().Add(-time.Second)
	started := map[string]time.Time{}
	errs := 0
	for i := 0; i < n && ctx.Err() == nil; i++ {
		id, quorum, startedAt, err := holdAndApprove(ctx, e, as)
		if err != nil {
			errs++
			logErr(errs, err)
			continue
		}
		res.Quorum = quorum
		started[id] = startedAt
	}
	res.Requests = len(started)

	out, err := e.gateCmd(ctx, as[0].name, "mpa", "audit", "list", "--json", "--since", since.Format(time.RFC3339Nano))
	if err != nil {
		return res, fmt.Errorf("read the audit trail: %w", err)
	}
	var events []struct {
		Time    time.Time `json:"time"`
		Kind    string    `json:"kind"`
		Request string    `json:"request"`
	}
	if err := json.Unmarshal(out, &events); err != nil {
		return res, fmt.Errorf("decode audit list: %w", err)
	}
	var lat []time.Duration
	for _, ev := range events {
		if ev.Kind != "request.approved" {
			continue
		}
		if t, ok := started[ev.Request]; ok {
			lat = append(lat, t.Sub(ev.Time))
			delete(started, ev.Request)
		}
	}
	errs += len(started) // started but no approval event found
	res.Latency = distOf(lat, errs)
	return res, nil
}

// holdAndApprove sends the held command as alice, waits for the gate to
// name the request, approves it to quorum and returns when of the
// command's start on the target.
func holdAndApprove(ctx context.Context, e *env, as []*approver) (string, int, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", e.sshArgs("aes", pathKeyturn, heldCommand)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", 0, time.Time{}, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, time.Time{}, fmt.Errorf("start held ssh: %w", err)
	}
	// On any early return the requester is still waiting; end it.
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(stderr)
	var id string
	var quorum int
	var said []string
	for id == "" && sc.Scan() {
		said = append(said, sc.Text())
		if m := requestRE.FindStringSubmatch(sc.Text()); m != nil {
			id = m[1]
			quorum, _ = strconv.Atoi(m[2])
		}
	}
	if id == "" {
		return "", 0, time.Time{}, fmt.Errorf("the gate did not hold %q: %s", heldCommand, strings.Join(said, "; "))
	}
	go func() { // keep the pipe drained; the gate's progress lines follow
		for sc.Scan() {
		}
	}()
	var prev *approver
	for v := 0; v < quorum; v++ {
		a, s, err := nextApprover(as, prev)
		if err != nil {
			return id, quorum, time.Time{}, err
		}
		c, err := code(a.secret, s)
		if err != nil {
			return id, quorum, time.Time{}, err
		}
		if _, err := e.gateCmd(ctx, a.name, "mpa", "requests", "approve", id, "--totp-code", c); err != nil {
			return id, quorum, time.Time{}, fmt.Errorf("approve %s as %s: %w", id, a.name, err)
		}
		a.lastStep, prev = s, a
	}
	if err := cmd.Wait(); err != nil {
		return id, quorum, time.Time{}, fmt.Errorf("held command %s: %w", id, err)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	ns, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil {
		return id, quorum, time.Time{}, fmt.Errorf("held command %s printed %q, not a time", id, out.String())
	}
	return id, quorum, time.Unix(0, ns), nil
}
