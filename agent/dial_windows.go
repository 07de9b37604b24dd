//go:build windows

package agent

import (
	"net"
	"runtime"
	"strings"
	"time"

	"github.com/Microsoft/go-winio"
)

// DefaultPipe is where the Windows OpenSSH agent service listens.
const DefaultPipe = `\\.\pipe\openssh-ssh-agent`

const dialTimeout = 5 * time.Second

// dial reaches SSH_AUTH_SOCK when set (a named pipe, or an AF_UNIX socket path as some
// ports use), else the OpenSSH agent service's pipe.
func dial(lookupEnv func(string) (string, bool)) (net.Conn, string, error) {
	addr, _ := lookupEnv("SSH_AUTH_SOCK")
	what := "SSH_AUTH_SOCK=" + addr
	service := addr == ""
	if service {
		addr, what = DefaultPipe, "the "+ServiceName+" service's pipe "+DefaultPipe
	}
	var (
		conn net.Conn
		err  error
	)
	if isPipe(addr) {
		timeout := dialTimeout
		conn, err = winio.DialPipe(addr, &timeout)
	} else {
		conn, err = net.DialTimeout("unix", addr, dialTimeout)
	}
	if err != nil {
		e := noAgent(runtime.GOOS, lookupEnv, "cannot reach "+what, err)
		if service {
			// Say what the service manager knows: not installed, disabled (Windows'
			// default), stopped; and the one step that fixes it.
			if st, qerr := QueryService(); qerr == nil {
				if problem, fix := st.Problem(); problem != "" {
					e.Reason = problem + "; " + e.Reason
					e.hints = []string{fix, "then run bbkey again"}
				}
			}
		}
		return nil, "", e
	}
	return conn, addr, nil
}

func isPipe(addr string) bool {
	a := strings.ReplaceAll(addr, "/", `\`)
	return strings.HasPrefix(strings.ToLower(a), `\\.\pipe\`)
}
