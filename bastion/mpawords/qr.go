package mpawords

import (
	"io"

	"github.com/mdp/qrterminal/v3"
)

// QR writes url (a TOTP secret's otpauth:// URL) to w as a QR code in
// half blocks: small enough for an 80x24 terminal, and a quiet zone of 1
// is enough for phone cameras in practice. The CLI and the console draw
// the same code.
func QR(w io.Writer, url string) {
	qrterminal.GenerateWithConfig(url, qrterminal.Config{
		Level:          qrterminal.L,
		Writer:         w,
		HalfBlocks:     true,
		BlackChar:      qrterminal.BLACK_BLACK,
		WhiteBlackChar: qrterminal.WHITE_BLACK,
		WhiteChar:      qrterminal.WHITE_WHITE,
		BlackWhiteChar: qrterminal.BLACK_WHITE,
		QuietZone:      1,
	})
}
