package audit

import (
	"testing"
	"time"
)

// A single chain (no name) hashes exactly as before chains had names: its
// canonical form has no "chain" key, so existing trails still verify.
func TestCanonicalWithoutChain(t *testing.T) {
	e := Event{Seq: 1, Time: time.Unix(1700000000, 5).UTC(), Kind: "k", Actor: "alice"}
	b, err := e.canonicalBytes()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":1,"time":"2023-11-14T22:13:20.000000005Z","kind":"k","actor":"alice","request":"","target":"","data":null,"prev":""}`
	if string(b) != want {
		t.Fatalf("canonical form\n%s\nwant\n%s", b, want)
	}
	e.Chain = "gate-a"
	b, _ = e.canonicalBytes()
	if want := `{"chain":"gate-a",` + want[1:]; string(b) != want {
		t.Fatalf("canonical form\n%s\nwant\n%s", b, want)
	}
}
