package bastion

import "testing"

func TestRedactSecrets(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mpa requests approve req-1 --totp-code 123456 --comment ok", "mpa requests approve req-1 --totp-code ****** --comment ok"},
		{"mpa complete-registration --totp-code=654321", "mpa complete-registration --totp-code=******"},
		{"uptime", "uptime"},
	}
	for _, tt := range tests {
		if got := redactSecrets(tt.in); got != tt.want {
			t.Errorf("redactSecrets(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
