package tui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
)

// styles holds every style the console draws with. They are made from the
// session's renderer, never lipgloss's default one, so that colours follow
// the client's TERM and NO_COLOR rather than the gate's own stdout.
type styles struct {
	title    lipgloss.Style
	header   lipgloss.Style // table header row
	selected lipgloss.Style // the row under the cursor
	dim      lipgloss.Style
	own      lipgloss.Style // the viewer's own requests: not theirs to decide
	match    lipgloss.Style // words of the command line the policy matched
	label    lipgloss.Style
	ok       lipgloss.Style
	err      lipgloss.Style
	warn     lipgloss.Style
	box      lipgloss.Style // the approve / reject dialog
	help     help.Styles
}

func newStyles(r *lipgloss.Renderer) styles {
	accent := lipgloss.AdaptiveColor{Light: "#5A56E0", Dark: "#7571F9"}
	subtle := lipgloss.AdaptiveColor{Light: "#9B9B9B", Dark: "#5C5C5C"}
	red := lipgloss.AdaptiveColor{Light: "#D70000", Dark: "#FF5F5F"}
	green := lipgloss.AdaptiveColor{Light: "#008700", Dark: "#5FD75F"}
	yellow := lipgloss.AdaptiveColor{Light: "#AF8700", Dark: "#FFD75F"}
	return styles{
		title:    r.NewStyle().Bold(true).Foreground(accent),
		header:   r.NewStyle().Bold(true),
		selected: r.NewStyle().Reverse(true),
		dim:      r.NewStyle().Foreground(subtle),
		own:      r.NewStyle().Foreground(subtle).Italic(true),
		match:    r.NewStyle().Bold(true).Underline(true).Foreground(yellow),
		label:    r.NewStyle().Bold(true),
		ok:       r.NewStyle().Foreground(green),
		err:      r.NewStyle().Foreground(red).Bold(true),
		warn:     r.NewStyle().Foreground(yellow),
		box:      r.NewStyle().Border(lipgloss.NormalBorder()).BorderForeground(accent).Padding(0, 1),
		help: help.Styles{
			Ellipsis:       r.NewStyle().Foreground(subtle),
			ShortKey:       r.NewStyle().Bold(true),
			ShortDesc:      r.NewStyle().Foreground(subtle),
			ShortSeparator: r.NewStyle().Foreground(subtle),
			FullKey:        r.NewStyle().Bold(true),
			FullDesc:       r.NewStyle().Foreground(subtle),
			FullSeparator:  r.NewStyle().Foreground(subtle),
		},
	}
}
