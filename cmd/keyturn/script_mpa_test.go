package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Commands for approval scripts:
//
//	totpsecret VAR          set $VAR to the TOTP secret in the last command's stdout
//	oathcode VAR SECRET [OFFSET]
//	                        set $VAR to the code the real oathtool computes for
//	                        $SECRET at now+OFFSET seconds (OFFSET may be negative)
//	totpwindow              wait, if needed, until at least 12 s remain in the current
//	                        30 s TOTP step, so codes computed next stay in step
//	waitscreen SOCKET TARGET REGEXP
//	                        wait until a tmux pane shows REGEXP
//	waitlog [-count=N] [-file=F] REGEXP [VAR]
//	                        wait (up to a minute) until gate.log (or F) matches REGEXP
//	                        (N times); set $VAR to the first group of the Nth match
var mpaCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"totpsecret": cmdTOTPSecret,
	"oathcode":   cmdOathCode,
	"totpwindow": cmdTOTPWindow,
	"waitlog":    cmdWaitLog,
	"waitscreen": cmdWaitScreen,
}

// cmdWaitScreen waits (up to a minute) until the tmux pane shows REGEXP:
// waitscreen SOCKET TARGET REGEXP.
func cmdWaitScreen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: waitscreen SOCKET TARGET REGEXP")
	}
	re, err := regexp.Compile(args[2])
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var screen []byte
	for {
		screen, _ = exec.Command("tmux", "-S", ts.MkAbs(args[0]), "capture-pane", "-p", "-t", args[1]).CombinedOutput()
		if re.Match(screen) {
			return
		}
		select {
		case <-ctx.Done():
			ts.Fatalf("the screen never showed %s; it shows:\n%s", args[2], screen)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var secretRE = regexp.MustCompile(`(?m)^\s*secret:?\s+([A-Z2-7]{16,})\s*$`)

func cmdTOTPSecret(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: totpsecret VAR")
	}
	m := secretRE.FindStringSubmatch(ts.ReadFile("stdout"))
	if m == nil {
		ts.Fatalf("no TOTP secret in stdout")
	}
	ts.Setenv(args[0], m[1])
}

func cmdOathCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: oathcode VAR SECRET [OFFSET]")
	}
	offset := 0
	if len(args) == 3 {
		var err error
		offset, err = strconv.Atoi(args[2])
		ts.Check(err)
	}
	at := time.Now().Add(time.Duration(offset) * time.Second).UTC().Format("2006-01-02 15:04:05 UTC")
	out, err := exec.Command("oathtool", "--totp", "-b", "--now", at, args[1]).CombinedOutput()
	if err != nil {
		ts.Fatalf("oathtool: %v: %s", err, out)
	}
	ts.Setenv(args[0], strings.TrimSpace(string(out)))
}

func cmdTOTPWindow(ts *testscript.TestScript, neg bool, args []string) {
	const step, need = 30, 12
	left := step - time.Now().Unix()%step
	if left < need {
		time.Sleep(time.Duration(left)*time.Second + 100*time.Millisecond)
	}
}

func cmdWaitLog(ts *testscript.TestScript, neg bool, args []string) {
	count, file := 1, "gate.log"
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		flag, val, _ := strings.Cut(args[0], "=")
		switch flag {
		case "-count":
			n, err := strconv.Atoi(val)
			ts.Check(err)
			count = n
		case "-file":
			file = val
		default:
			ts.Fatalf("waitlog: unknown flag %s", flag)
		}
		args = args[1:]
	}
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitlog [-count=N] REGEXP [VAR]")
	}
	re, err := regexp.Compile(args[0])
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		data, _ := os.ReadFile(ts.MkAbs(file))
		if all := re.FindAllStringSubmatch(string(data), -1); len(all) >= count {
			m := all[count-1]
			if len(args) == 2 {
				if len(m) < 2 {
					ts.Fatalf("waitlog: %s has no group to set %s from", args[0], args[1])
				}
				ts.Setenv(args[1], m[1])
			}
			return
		}
		select {
		case <-ctx.Done():
			ts.Fatalf("%s never matched %s", file, args[0])
		case <-time.After(50 * time.Millisecond):
		}
	}
}
