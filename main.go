// Command bbkey moves git over HTTPS with pasted secrets to git over SSH with a
// passphrase-protected ed25519 key, for Bitbucket Cloud.
package main

import (
	"os"

	"github.com/bbkey/bbkey/cmd"
)

func main() {
	os.Exit(cmd.Main())
}
