package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/bastion/mpa"
)

// /healthz tells a full store from a broken one, and never shows the
// cause (it names paths).
func TestHealthzStoreFull(t *testing.T) {
	var health error
	srv := httptest.NewServer(New().Handler(func(context.Context) error { return health }, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	for _, tc := range []struct {
		err  error
		code int
		body string
	}{
		{nil, http.StatusOK, "ok"},
		{fmt.Errorf("store /secret/path: %w", mpa.ErrStoreFull), http.StatusServiceUnavailable, "store full"},
		{errors.New("store /secret/path: closed"), http.StatusServiceUnavailable, "store unavailable"},
	} {
		health = tc.err
		if code, body := get(); code != tc.code || body != tc.body {
			t.Errorf("health %v: %d %q; want %d %q", tc.err, code, body, tc.code, tc.body)
		}
	}
}
