package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/apierr"
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
	switch {
	case errors.Is(k.fileErr, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("%s is not in the agent and its file is missing", k.what())
	case k.fileErr != nil:
		return nil, nil, k.fileErr
	case k.encrypted && !canUnlock(e.Passphrase):
		return nil, nil, fmt.Errorf("%s is not in the agent and no passphrase was given (--passphrase-file or %s)", k.what(), secret.PassphraseEnv)
	}
	key, err := e.Passphrase.Unlock(k.Path)
	if err != nil {
		return nil, nil, err
	}
	return key.Signer, key.Wipe, nil
}

// proofOptions are the SSH proof's (or handshake's) options for endpoint, trusting the
// host keys of pins, less any key an @revoked line marks, as ssh does.
func proofOptions(e *Env, endpoint string, pins hostkeys.Pins, timeout time.Duration, signer ssh.Signer) sshproof.Options {
	return sshproof.Options{Endpoint: endpoint, HostKeyAlias: pins.Alias, HostKeyCallback: pins.Guard(pins.HostKeyCallback(endpoint), hostkeys.Path(e.Paths.SSHDir)),
		HostKeyAlgorithms: hostkeys.HostKeyAlgorithms(pins.Keys), Signer: signer, Timeout: timeout, Dial: e.Dial, Trace: e.Trace}
}

// proveKey proves k over SSH at endpoint: skipped when no signer is at hand (not in the
// agent, no passphrase given), failed when refused.
func proveKey(ctx context.Context, e *Env, k managedKey, endpoint string, pins hostkeys.Pins) finding {
	s, wipe, err := signerFor(e, k)
	if err != nil {
		return finding{Skipped, err.Error(), "", ""}
	}
	defer wipe()
	res, err := sshproof.Prove(ctx, proofOptions(e, endpoint, pins, e.Timeouts.Proof, s))
	var re *sshproof.RefusedError
	switch {
	case errors.As(err, &re):
		server := ""
		if k.Server != "" {
			server = " --server " + k.Server
		}
		fix := "bbkey list" + server + " (shows where the key is registered); bbkey setup" + server + " --name " + k.Name + " uploads it again"
		if k.Kind == keys.KindAccess {
			fix = "bbkey list" + server + " --repo WS/REPO (shows where the key is registered)"
		}
		return finding{Fail, fmt.Sprintf("%s refused %s (%s)", endpoint, k.what(), k.Fingerprint),
			"Bitbucket does not accept the key: it is not registered, registered on another account, expired, or was deleted a moment ago", fix}
	case err != nil:
		return finding{Fail, fmt.Sprintf("%s: %v", k.what(), err), "", apierr.FirstHint(err, "run: bbkey doctor --debug")}
	}
	return finding{OK, fmt.Sprintf("%s: %s", k.what(), firstLine(res.Greeting)), "", ""}
}

func checkProof(ctx context.Context, e *Env, deps Deps) Result {
	if d, bad := deps.failed("host-key"); bad {
		return skip(d)
	}
	if r, ok := deps["key-on-bitbucket"]; ok && r.Status == Fail {
		return skip(r)
	}
	mks, _ := e.cloudKeys()
	pins, err := hostkeys.Pinned(e.Settings)
	if len(mks) == 0 || err != nil {
		return Result{Status: Skipped, Summary: "skipped: no bbkey key to prove, or no pinned host keys"}
	}
	var fs []finding
	for _, k := range mks {
		if k.Fingerprint != "" {
			fs = append(fs, proveKey(ctx, e, k, e.Settings.SSHEndpoint, pins))
		}
	}
	if len(fs) == 0 {
		return Result{Status: Skipped, Summary: "skipped: no bbkey key to prove"}
	}
	return fold(fs, "")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
