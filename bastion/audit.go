package bastion

import (
	"encoding/json"

	"github.com/keyturn/keyturn/bastion/audit"
)

// auditEvent is a gate event for the audit trail; the store fills in time,
// sequence and chain hashes.
func auditEvent(kind string, id Identity, data map[string]any) audit.Event {
	if data == nil {
		data = map[string]any{}
	}
	data["key"] = id.Fingerprint
	data["remote"] = id.Remote
	if id.Cert != nil {
		data["cert"] = id.Cert
	}
	raw, err := json.Marshal(data)
	if err != nil {
		raw = []byte(`{"error":"unencodable event data"}`)
	}
	return audit.Event{Kind: kind, Actor: id.User, Target: id.Target, Data: raw}
}
