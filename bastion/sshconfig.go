package bastion

import (
	"flag"
	"fmt"
	"io"
	"net"
	"path"
	"slices"
	"strings"

	gossh "golang.org/x/crypto/ssh"

	"github.com/keyturn/keyturn/bastion/exitcode"
)

// SSHConfigOptions say where a user's ssh client finds the gate.
type SSHConfigOptions struct {
	// Gate names the gate: the Host alias of its own commands and the
	// HostKeyAlias every block shares, so one known_hosts line covers all.
	Gate string
	// User is the gate login the blocks are for.
	User string
	// HostName and Port are what the client dials.
	HostName, Port string
	// Targets are the targets User may reach, one Host block each.
	Targets []string
	// HostKey is the gate's host key, for the known_hosts line.
	HostKey gossh.PublicKey
	// ControlDir holds the connection-sharing sockets (default ~/.ssh).
	ControlDir string
}

// WriteSSHConfig writes ssh_config Host blocks that reach the gate's own
// commands and each target through the gate. It uses no percent tokens:
// OpenSSH 9.2 (Debian 12) sends "User alice+%n" literally, so every block
// names its login in full. The blocks share connections (ControlMaster) so a
// second command on a target skips the handshake.
func WriteSSHConfig(w io.Writer, o SSHConfigOptions) error {
	control := o.ControlDir
	if control == "" {
		control = "~/.ssh"
	}
	known := AuthorizedKey(o.HostKey, "")
	var b strings.Builder
	fmt.Fprintf(&b, "# keyturn gate %q: the gate's commands and the %d target(s) %s may reach.\n", o.Gate, len(o.Targets), o.User)
	fmt.Fprintf(&b, "# Save as ~/.ssh/keyturn-%s.conf, put \"Include keyturn-%s.conf\" at the top of\n", o.Gate, o.Gate)
	fmt.Fprintf(&b, "# ~/.ssh/config, and add this line to ~/.ssh/known_hosts (the gate's host key):\n")
	fmt.Fprintf(&b, "#   %s %s\n", o.Gate, known)
	fmt.Fprintf(&b, "# Then: ssh %s help; ssh TARGET 'CMD'.\n", o.Gate)
	block := func(alias, login string) {
		fmt.Fprintf(&b, "\nHost %s\n", alias)
		fmt.Fprintf(&b, "  HostName %s\n", o.HostName)
		fmt.Fprintf(&b, "  Port %s\n", o.Port)
		fmt.Fprintf(&b, "  User %s\n", login)
		fmt.Fprintf(&b, "  HostKeyAlias %s\n", o.Gate)
		fmt.Fprintf(&b, "  ControlMaster auto\n")
		fmt.Fprintf(&b, "  ControlPath %s\n", path.Join(control, "keyturn-"+o.Gate+"-"+login))
		fmt.Fprintf(&b, "  ControlPersist 10m\n")
	}
	block(o.Gate, o.User)
	for _, t := range o.Targets {
		block(t, o.User+"+"+t)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sshConfigCommand answers 'ssh USER@gate ssh-config [--hostname H]
// [--port P] [--control-dir D]': Host blocks for exactly the targets the
// user may reach. The host name and port default to the address the client
// reached the gate on.
func (g *Gate) sshConfigCommand(w, errw io.Writer, user string, local net.Addr, args []string) int {
	fs := flag.NewFlagSet("ssh-config", flag.ContinueOnError)
	fs.SetOutput(errw)
	host, port, _ := net.SplitHostPort(local.String())
	hostName := fs.String("hostname", host, "the gate's `name` or address as clients reach it")
	portFlag := fs.String("port", port, "the gate's SSH `port` as clients reach it")
	controlDir := fs.String("control-dir", "~/.ssh", "`folder` for the connection-sharing sockets")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return exitcode.Usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errw, "keyturn: ssh-config takes no arguments, got %q; flags: --hostname, --port, --control-dir\n", fs.Arg(0))
		return exitcode.Usage
	}
	var names []string
	for _, t := range g.cfg.Targets {
		if g.authorizeTarget(Identity{User: user, Target: t.Name}) == "" {
			names = append(names, t.Name)
		}
	}
	slices.Sort(names)
	if err := WriteSSHConfig(w, SSHConfigOptions{
		Gate: g.name(), User: user, HostName: *hostName, Port: *portFlag,
		Targets: names, HostKey: g.hostKey.PublicKey(), ControlDir: *controlDir,
	}); err != nil {
		return exitcode.Internal
	}
	return 0
}

// name is the gate's name from the config, "keyturn" by default.
func (g *Gate) name() string {
	if g.cfg.Name != "" {
		return g.cfg.Name
	}
	return "keyturn"
}
