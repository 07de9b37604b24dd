//go:build windows

package rotate

import (
	"errors"

	"github.com/bbkey/bbkey/keys"
)

// errNoPrivateAgent: Windows' OpenSSH reaches agents through named pipes only, so the
// ls-remote proof cannot be given a private agent there; the handshake proof remains.
var errNoPrivateAgent = errors.New("Windows' ssh cannot be given a private agent; the handshake is the proof")

func servePrivateAgent(string, *keys.Key) (string, func(), error) {
	return "", nil, errNoPrivateAgent
}
