package tui

import (
	"strings"
	"unicode"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// field is a one-line text input: typing appends, backspace deletes,
// ctrl+u clears. It stands in for bubbles' textinput, which needs a
// clipboard package this module does not carry; the console needs no
// clipboard, no cursor movement and no blinking (a blinking cursor would
// make frames depend on timing rather than on the model).
type field struct {
	prompt      string
	placeholder string
	secret      bool // show a mask, for TOTP codes
	limit       int  // most runes accepted; 0 for no limit
	width       int  // cells for the value; 0 for no limit
	value       []rune
	focused     bool

	promptStyle lipgloss.Style
	dimStyle    lipgloss.Style
	cursorStyle lipgloss.Style
}

func newField(st styles, prompt string, secret bool) field {
	return field{prompt: prompt, secret: secret,
		promptStyle: st.label, dimStyle: st.dim, cursorStyle: st.selected}
}

func (f *field) focus()       { f.focused = true }
func (f *field) blur()        { f.focused = false }
func (f field) text() string  { return string(f.value) }
func (f *field) set(s string) { f.value = []rune(s) }

// update applies one key to a focused field.
func (f field) update(msg tea.KeyMsg) field {
	if !f.focused {
		return f
	}
	switch msg.Type {
	case tea.KeyBackspace, tea.KeyCtrlH:
		if n := len(f.value); n > 0 {
			f.value = f.value[:n-1]
		}
	case tea.KeyCtrlU:
		f.value = nil
	case tea.KeyCtrlW:
		v := strings.TrimRightFunc(string(f.value), unicode.IsSpace)
		if i := strings.LastIndexFunc(v, unicode.IsSpace); i >= 0 {
			v = v[:i+1]
		} else {
			v = ""
		}
		f.value = []rune(v)
	case tea.KeySpace:
		f.insert([]rune{' '})
	case tea.KeyRunes:
		f.insert(msg.Runes)
	}
	return f
}

func (f *field) insert(rs []rune) {
	for _, r := range rs {
		if !unicode.IsPrint(r) {
			continue // pasted newlines and escapes have no place in one line
		}
		if f.limit > 0 && len(f.value) >= f.limit {
			return
		}
		f.value = append(f.value, r)
	}
}

// view draws the prompt and the value's tail (so the end being typed is
// always visible), masked if secret.
func (f field) view() string {
	p := f.promptStyle.Render(f.prompt)
	if len(f.value) == 0 {
		c := ""
		if f.focused {
			c = f.cursorStyle.Render(" ")
		}
		return p + c + f.dimStyle.Render(f.placeholder)
	}
	v := string(f.value)
	if f.secret {
		v = strings.Repeat("•", len(f.value))
	}
	v = printable(v)
	if f.width > 1 {
		rs := []rune(v)
		if len(rs) > f.width-1 {
			v = "…" + string(rs[len(rs)-(f.width-2):])
		}
	}
	if f.focused {
		v += f.cursorStyle.Render(" ")
	}
	return p + v
}
