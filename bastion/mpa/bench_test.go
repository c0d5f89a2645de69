package mpa_test

import (
	"os"
	"testing"
	"time"

	"github.com/keyturn/keyturn/bastion/mpa/mpatest"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// benchEnv is an env on an in-memory store, or on disk with synced writes
// (what a gate runs). With KEYTURN_TEST_STORE=etcd it is always on the
// embedded etcd (which syncs its WAL).
func benchEnv(b *testing.B, disk bool) *env {
	if !disk || os.Getenv("KEYTURN_TEST_STORE") == "etcd" {
		return newEnv(b, mpa.Options{})
	}
	st, err := badgerstore.Open(badgerstore.Options{Dir: b.TempDir(), Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return newEnvOn(b, st, mpatest.NewClock(start), mpa.Options{})
}

func BenchmarkCreate(b *testing.B) {
	for _, disk := range []bool{false, true} {
		b.Run(map[bool]string{false: "memory", true: "disk"}[disk], func(b *testing.B) {
			e := benchEnv(b, disk)
			b.ReportAllocs()
			for b.Loop() {
				e.create("alice", 2)
			}
		})
	}
}

// BenchmarkApprove measures one approval that reaches quorum: the TOTP
// check, the vote, the transition to Approved and three audit events, in
// one transaction. Codes are computed in-process (oathtool would dominate).
func BenchmarkApprove(b *testing.B) {
	for _, disk := range []bool{false, true} {
		b.Run(map[bool]string{false: "memory", true: "disk"}[disk], func(b *testing.B) {
			e := benchEnv(b, disk)
			reg, err := e.svc.InitiateRegistration(e.ctx, "bob", false)
			if err != nil {
				b.Fatal(err)
			}
			gen := func(at time.Time) string {
				c, err := totp.GenerateCodeCustom(reg.Secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
			if _, _, err := e.svc.CompleteRegistration(e.ctx, "bob", gen(e.clock.Now())); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				r := e.create("alice", 1)
				e.Step()
				code := gen(e.clock.Now())
				b.StartTimer()
				if _, err := e.svc.Approve(e.ctx, r.ID, "bob", mpa.VoteInput{Code: code}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
