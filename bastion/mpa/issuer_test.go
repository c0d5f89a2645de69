package mpa_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/keyturn/keyturn/bastion/mpa"
	"github.com/keyturn/keyturn/bastion/store/badgerstore"
)

// The otpauth issuer names the gate, so two gates' entries in one
// authenticator app do not collide; "keyturn" without a name.
func TestIssuerNamesTheGate(t *testing.T) {
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct{ issuer, want string }{{"keyturn (gate-a)", "keyturn (gate-a)"}, {"", "keyturn"}} {
		svc := mpa.New(st, mpa.Options{Issuer: tc.issuer})
		reg, err := svc.InitiateRegistration(context.Background(), "bob", true)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(reg.URL)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Query().Get("issuer"); got != tc.want || reg.Issuer != tc.want {
			t.Errorf("issuer %q: URL issuer %q, Registration.Issuer %q; want %q", tc.issuer, got, reg.Issuer, tc.want)
		}
	}
}
