package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// outputCmds are the script commands about kept output:
//
//	castcheck FILE TEXT    FILE is an asciicast v2 recording whose output
//	                       events, played back, contain TEXT
var outputCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"castcheck": cmdCastCheck,
}

// cmdCastCheck checks a recording against the asciicast v2 format
// (https://docs.asciinema.org/manual/asciicast/v2/): a header object with
// version 2 and a positive integer width and height, then one
// [time, code, data] event per line, times never going back.
func cmdCastCheck(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: castcheck FILE TEXT")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	if !sc.Scan() {
		ts.Fatalf("%s: empty", args[0])
	}
	var header struct {
		Version   *int   `json:"version"`
		Width     *int   `json:"width"`
		Height    *int   `json:"height"`
		Timestamp *int64 `json:"timestamp"`
	}
	if err := json.Unmarshal(sc.Bytes(), &header); err != nil {
		ts.Fatalf("%s: header %q: %v", args[0], sc.Text(), err)
	}
	if header.Version == nil || *header.Version != 2 || header.Width == nil || *header.Width <= 0 || header.Height == nil || *header.Height <= 0 {
		ts.Fatalf("%s: header %q is not asciicast v2", args[0], sc.Text())
	}
	var played strings.Builder
	last := 0.0
	for n := 2; sc.Scan(); n++ {
		var ev []json.RawMessage
		var at float64
		var code, text string
		if json.Unmarshal(sc.Bytes(), &ev) != nil || len(ev) != 3 || json.Unmarshal(ev[0], &at) != nil ||
			json.Unmarshal(ev[1], &code) != nil || json.Unmarshal(ev[2], &text) != nil || at < last || !strings.Contains("oimr", code) || len(code) != 1 {
			ts.Fatalf("%s:%d: %q is not an asciicast v2 event after time %v", args[0], n, sc.Text(), last)
		}
		last = at
		if code == "o" {
			played.WriteString(text)
		}
	}
	if !strings.Contains(played.String(), args[1]) {
		ts.Fatalf("%s plays back %q; want it to contain %q", args[0], played.String(), args[1])
	}
}
