package mpa

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// Terminal size assumed for a recording of a command that ran without a
// terminal.
const (
	castWidth  = 80
	castHeight = 24
)

// WriteAsciicast writes o as an asciicast v2 recording
// (https://docs.asciinema.org/manual/asciicast/v2/), playable with
// 'asciinema play'. Both streams are output events, as a terminal shows
// them; keystrokes are not recorded (they may be passwords). Where bytes
// were dropped an output event says how many. A multi-byte character
// split between two pieces is held back and written whole, since event
// data must be UTF-8; invalid bytes become U+FFFD.
func (o *Output) WriteAsciicast(w io.Writer) error {
	bw := bufio.NewWriter(w)
	header := struct {
		Version   int               `json:"version"`
		Width     int               `json:"width"`
		Height    int               `json:"height"`
		Timestamp int64             `json:"timestamp"`
		Title     string            `json:"title"`
		Env       map[string]string `json:"env,omitempty"`
	}{Version: 2, Width: castWidth, Height: castHeight, Timestamp: o.Start.Unix(), Title: "keyturn request " + o.Request}
	if t := o.Terminal; t != nil {
		if t.Width > 0 && t.Height > 0 {
			header.Width, header.Height = t.Width, t.Height
		}
		if t.Term != "" {
			header.Env = map[string]string{"TERM": t.Term}
		}
	}
	line, err := json.Marshal(header)
	if err != nil {
		return err
	}
	bw.Write(append(line, '\n'))
	var pending []byte
	last := 0.0
	event := func(at float64, data string) error {
		if data == "" {
			return nil
		}
		at = max(at, last) // times never go back
		last = at
		line, err := json.Marshal([]any{at, "o", data})
		if err != nil {
			return err
		}
		_, err = bw.Write(append(line, '\n'))
		return err
	}
	emit := func(c OutputChunk) error {
		data := append(pending, c.Data...)
		cut := len(data)
		// Hold back an incomplete character at the end.
		for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax+1; i-- {
			if utf8.RuneStart(data[i]) {
				if !utf8.FullRune(data[i:]) {
					cut = i
				}
				break
			}
		}
		pending = append([]byte(nil), data[cut:]...)
		return event(c.At.Seconds(), toUTF8(data[:cut]))
	}
	for _, c := range o.Head {
		if err := emit(c); err != nil {
			return err
		}
	}
	if o.OmittedBytes > 0 {
		at := last
		if len(o.Tail) > 0 {
			at = o.Tail[0].At.Seconds()
		}
		if err := event(at, toUTF8(pending)+fmt.Sprintf("\r\n[keyturn: %d bytes of output omitted here]\r\n", o.OmittedBytes)); err != nil {
			return err
		}
		pending = nil
	}
	for _, c := range o.Tail {
		if err := emit(c); err != nil {
			return err
		}
	}
	if err := event(last, toUTF8(pending)); err != nil {
		return err
	}
	return bw.Flush()
}

func toUTF8(b []byte) string {
	s := string(b)
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s)) // each invalid byte becomes U+FFFD
}
