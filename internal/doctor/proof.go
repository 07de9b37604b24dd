package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/sshproof"
	"github.com/bbkey/bbkey/keys"
)

// signerFor finds a signer for the key: the agent's when it holds the key, else the key
// file decrypted in memory when it needs no passphrase or one was given (never asked for:
// checks run unattended).
func signerFor(e *Env, k managedKey) (ssh.Signer, func(), error) {
	if ai, err := e.agentConn(); err == nil {
		if signers, err := ai.Agent.Signers(); err == nil {
			for _, s := range signers {
				if ssh.FingerprintSHA256(s.PublicKey()) == k.Fingerprint {
					return s, func() {}, nil
				}
			}
		}
	}
	if !fsutil.MayExist(k.Path) {
		return nil, nil, fmt.Errorf("%s is not in the agent and its file is missing", k.what())
	}
	enc, err := isEncrypted(k.Path)
	if err != nil {
		return nil, nil, err
	}
	if enc && !canUnlock(e.Passphrase) {
		return nil, nil, fmt.Errorf("%s is not in the agent and no passphrase was given (--passphrase-file or %s)", k.what(), secret.PassphraseEnv)
	}
	key, err := e.Passphrase.Unlock(k.Path)
	if err != nil {
		return nil, nil, err
	}
	return key.Signer, key.Wipe, nil
}

func checkProof(ctx context.Context, e *Env, deps Deps) Result {
	if d, bad := deps.failed("host-key"); bad {
		return skip(d)
	}
	if r, ok := deps["key-on-bitbucket"]; ok && r.Status == Fail {
		return skip(r)
	}
	mks, _ := e.cloudKeys()
	if len(mks) == 0 {
		return Result{Status: Skipped, Summary: "skipped: no bbkey key to prove"}
	}
	pins, err := hostkeys.Pinned(e.Settings)
	if err != nil {
		return Result{Status: Skipped, Summary: "skipped: no pinned host keys"}
	}
	var proven, refused, skipped []string
	var fix []string
	for _, k := range mks {
		if k.Fingerprint == "" {
			continue
		}
		s, wipe, err := signerFor(e, k)
		if err != nil {
			skipped = append(skipped, err.Error())
			continue
		}
		res, err := sshproof.Prove(ctx, sshproof.Options{
			Endpoint: e.Settings.SSHEndpoint, HostKeyAlias: pins.Alias,
			HostKeyCallback: pins.HostKeyCallback(e.Settings.SSHEndpoint), HostKeyAlgorithms: hostkeys.HostKeyAlgorithms(pins.Keys),
			Signers: []ssh.Signer{s}, Timeout: e.Timeouts.Proof, Dial: e.Dial, Trace: e.Trace,
		})
		wipe()
		var re *sshproof.RefusedError
		switch {
		case errors.As(err, &re):
			refused = append(refused, fmt.Sprintf("%s refused %s (%s)", e.Settings.SSHEndpoint, k.what(), k.Fingerprint))
			if k.Kind == keys.KindAccount {
				fix = appendOnce(fix, "bbkey list (shows where the key is registered); bbkey setup --name "+k.Name+" uploads it again")
			} else {
				fix = appendOnce(fix, "bbkey list --repo WS/REPO (shows where the key is registered)")
			}
		case err != nil:
			refused = append(refused, fmt.Sprintf("%s: %v", k.what(), err))
			fix = appendOnce(fix, firstHint(err, "run: bbkey doctor --debug"))
		default:
			proven = append(proven, fmt.Sprintf("%s: %s", k.what(), firstLine(res.Greeting)))
		}
	}
	switch {
	case len(refused) > 0:
		return Result{Status: Fail, Summary: strings.Join(refused, "; "), Details: append(proven, skipped...),
			Cause: "Bitbucket does not accept the key: it is not registered, registered on another account, or was deleted a moment ago",
			Fix:   strings.Join(fix, "; ")}
	case len(proven) == 0:
		return Result{Status: Skipped, Summary: "skipped: " + strings.Join(skipped, "; ")}
	}
	return Result{Status: OK, Summary: strings.Join(proven, "; "), Details: skipped}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
