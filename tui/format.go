package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/keyturn/keyturn/bastion/termsafe"
)

// short formats d as the one or two largest units ("3d4h", "12m", "45s"),
// wide enough for a table column.
func short(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Truncate(time.Second)
	day := 24 * time.Hour
	switch {
	case d >= day:
		if h := (d % day) / time.Hour; h > 0 {
			return fmt.Sprintf("%dd%dh", d/day, h)
		}
		return fmt.Sprintf("%dd", d/day)
	case d >= time.Hour:
		if mm := (d % time.Hour) / time.Minute; mm > 0 {
			return fmt.Sprintf("%dh%dm", d/time.Hour, mm)
		}
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute:
		if s := (d % time.Minute) / time.Second; s > 0 {
			return fmt.Sprintf("%dm%ds", d/time.Minute, s)
		}
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// until is a countdown: "in 6d23h", or "expired" once past.
func until(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if !now.Before(t) {
		return "expired"
	}
	return short(t.Sub(now))
}

// stamp is a time as the console shows it: UTC, to the second, so that
// approvers in different zones read the same thing.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// truncate cuts s to width cells with a visible ellipsis. It is for table
// cells and status lines only; the command line is wrapped instead, since
// an approver must see all of it.
func truncate(s string, width int) string {
	if width <= 0 {
		return ""
	}
	return ansi.Truncate(s, width, "…")
}

// pad truncates or pads s to exactly width cells.
func pad(s string, width int) string {
	s = truncate(s, width)
	if w := lipgloss.Width(s); w < width {
		s += strings.Repeat(" ", width-w)
	}
	return s
}

// fitHeight pads s with empty lines, or cuts it, to exactly n lines. Views
// size themselves to fit; the cut only guards the frame.
func fitHeight(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	for len(lines) < n {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// wrap breaks s into lines of at most width cells, keeping every
// character (spaces included) so that a command line reads exactly as it
// will run.
func wrap(s string, width int) []string {
	if width < 1 {
		width = 1
	}
	return strings.Split(ansi.Hardwrap(s, width, true), "\n")
}

// wrapText breaks prose at spaces where it can, and inside a word only
// when the word is longer than the line.
func wrapText(s string, width int) []string {
	if width < 1 {
		width = 1
	}
	return strings.Split(ansi.Wrap(s, width, ""), "\n")
}

// printable makes s safe to draw: see termsafe.String.
func printable(s string) string { return termsafe.String(s) }
