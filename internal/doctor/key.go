package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
	"github.com/bbkey/bbkey/keys"
)

// maxTargets bounds the access-key targets looked up on Bitbucket in one run.
const maxTargets = 20

func checkKeyFiles(_ context.Context, e *Env, _ Deps) Result {
	mks, err := e.keys()
	if err != nil {
		return Result{Status: Fail, Summary: "cannot read bbkey's state: " + err.Error(),
			Cause: "bbkey finds its keys, Host blocks and timers through its state",
			Fix:   apierr.FirstHint(err, "check "+filepath.Join(e.Paths.ConfigDir, state.StateFile)+" (it is JSON bbkey writes)")}
	}
	if len(mks) == 0 {
		return Result{Status: Fail, Summary: "no bbkey key on this machine",
			Cause: "bbkey setup has not run here, or its key files were deleted",
			Fix:   "run: bbkey setup"}
	}
	if mks[0].Unrecorded {
		var names, fix []string
		for _, k := range mks {
			names = append(names, k.Path)
			if k.Kind == keys.KindAccount {
				fix = append(fix, "bbkey setup --name "+k.Name)
			} else {
				fix = append(fix, "bbkey add-access-key --name "+k.Name+" --repo WS/REPO")
			}
		}
		return Result{Status: Fail, Summary: "bbkey's state records no key, but these are bbkey's: " + strings.Join(names, ", "),
			Cause: filepath.Join(e.Paths.ConfigDir, state.StateFile) + " was deleted or belongs to another user; without it bbkey cannot write the ssh config for these keys",
			Fix:   "run: " + strings.Join(fix, " && ") + " (each reuses the existing key file)"}
	}
	const lostCause = "the key file was deleted, moved or replaced after bbkey made it"
	const lostFix = "make a new key with: bbkey setup (account keys) or bbkey add-access-key (access keys); then delete the lost one from Bitbucket with: bbkey remove FINGERPRINT"
	var fs []finding
	var fixes []*Fix
	for _, k := range mks {
		pub := k.Path + keys.PublicSuffix
		if errors.Is(k.fileErr, os.ErrNotExist) {
			fs = append(fs, finding{Fail, fmt.Sprintf("%s: the private key %s is missing", k.what(), k.Path), lostCause, lostFix})
			continue
		}
		if k.fileErr != nil {
			fs = append(fs, finding{Fail, fmt.Sprintf("%s: %v", k.what(), k.fileErr), "ssh cannot use the private key file: it is damaged, unreadable, or not a private key", lostFix})
			continue
		}
		if !fsutil.MayExist(pub) {
			fs = append(fs, finding{Fail, fmt.Sprintf("%s: %s is missing", k.what(), pub),
				"ssh and bbkey read the public half from the .pub file beside the key",
				"run: bbkey doctor --fix (it writes the .pub from the private key, which carries its public half)"})
			fixes = append(fixes, pubFix(k))
			continue
		}
		pk, err := inventory.ReadPub(pub)
		switch {
		case err != nil:
			fs = append(fs, finding{Fail, fmt.Sprintf("%s: %s: %v", k.what(), pub, err), "", ""})
		case k.Fingerprint != "" && !bbapi.SameFingerprint(pk.Fingerprint, k.Fingerprint):
			fs = append(fs, finding{Fail, fmt.Sprintf("%s: %s holds %s, but bbkey made %s", k.what(), pub, pk.Fingerprint, k.Fingerprint), lostCause, lostFix})
		default:
			fs = append(fs, finding{OK, fmt.Sprintf("%s: %s (%s)", k.what(), k.Path, pk.Fingerprint), "", ""})
		}
	}
	r := fold(fs, "")
	if r.Status == OK {
		r.Summary = fmt.Sprintf("%d %s: %s", len(fs), text.Plural(len(fs), "key", "keys"), r.Summary)
	}
	r.fixes = fixes
	return r
}

// pubFix writes a missing .pub from the public half an OpenSSH private key carries in
// clear.
func pubFix(k managedKey) *Fix {
	pub := k.Path + keys.PublicSuffix
	return &Fix{Key: "pub:" + pub, Description: "write " + pub + " from its private key",
		apply: func(context.Context) ([]string, error) {
			key, err := keys.LoadPublic(k.Path)
			if err != nil {
				return nil, err
			}
			if err := fsutil.CreateExclusive(pub, []byte(key.AuthorizedKey()+"\n"), 0o644); err != nil {
				return nil, fmt.Errorf("writing %s: %w", pub, err)
			}
			return []string{pub}, nil
		}}
}

// permFix is one chmod, or on Windows (acl) one reset of a file's ACL to private.
type permFix struct {
	path string
	mode fs.FileMode
	acl  bool
}

func applyPerms(fx []permFix) func(context.Context) ([]string, error) {
	return func(context.Context) ([]string, error) {
		var changed []string
		for _, c := range fx {
			err := os.Chmod(c.path, c.mode)
			if c.acl {
				err = fsutil.MakePrivate(c.path)
			}
			if err != nil {
				return changed, err
			}
			changed = append(changed, c.path)
		}
		return changed, nil
	}
}

func checkKeyPermissions(_ context.Context, e *Env, _ Deps) Result {
	mks, err := e.keys()
	if err != nil || len(mks) == 0 {
		return Result{Status: Skipped, Summary: "skipped: no bbkey key to check"}
	}
	var problems, cmds, unread, paths []string
	var auto []permFix
	manual, acl := false, false
	check := func(err error, path string, mode fs.FileMode) {
		var pe *keys.PermissionError
		switch {
		case errors.As(err, &pe):
			problems, cmds = append(problems, pe.Path+" "+pe.Problem), append(cmds, pe.Fix)
			// --fix runs the chmod, or on Windows (icacls) resets the ACL; a chown is manual.
			isACL := strings.HasPrefix(pe.Fix, "icacls ")
			if isACL || strings.HasPrefix(pe.Fix, "chmod ") {
				acl = acl || isACL
				auto, paths = append(auto, permFix{path, mode, isACL}), append(paths, path)
			} else {
				manual = true
			}
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			unread = append(unread, err.Error())
		}
	}
	check(keys.CheckDir(e.Paths.SSHDir), e.Paths.SSHDir, 0o700)
	if bb := e.Paths.BbkeyDir(); fsutil.MayExist(bb) {
		check(keys.CheckDir(bb), bb, 0o700)
	}
	for _, k := range mks {
		if fsutil.MayExist(k.Path) {
			check(keys.CheckPrivateFile(k.Path), k.Path, 0o600)
		}
		if pub := k.Path + keys.PublicSuffix; fsutil.MayExist(pub) {
			check(keys.CheckPublicFile(pub), pub, 0o644)
		}
	}
	// The secret files bbkey writes or reads beside the keys: the plain credentials file
	// (when the keychain is not used) and the --passphrase-file of this run.
	for _, f := range []struct{ path, holds string }{
		{filepath.Join(e.Paths.ConfigDir, credstore.FileName), "token"},
		{e.Passphrase.File, "passphrase"},
		{e.FixPassphrase.File, "passphrase"},
	} {
		if f.path != "" && fsutil.MayExist(f.path) {
			check(keys.CheckSecretFile(f.path, f.holds), f.path, 0o600)
		}
	}
	if len(problems) == 0 {
		if len(unread) > 0 {
			return Result{Status: Warn, Summary: "cannot read the permissions: " + strings.Join(unread, "; ")}
		}
		what := "private to you"
		if e.goos() == "windows" {
			what = "private to you (their ACLs let in no one but you, SYSTEM and Administrators)"
		}
		return Result{Status: OK, Summary: fmt.Sprintf("%s and the key files are %s", e.Paths.SSHDir, what)}
	}
	r := Result{Status: Fail, Summary: strings.Join(problems, "; "),
		Cause: "ssh refuses a private key others can read (UNPROTECTED PRIVATE KEY FILE), and a directory others can write lets them swap your keys",
		Fix:   "run: " + strings.Join(cmds, " && ")}
	switch {
	case acl:
		r.Cause = "Windows OpenSSH refuses a private key whose ACL lets in anyone but you, SYSTEM and Administrators (UNPROTECTED PRIVATE KEY FILE), and a secret others can read protects nothing"
		r.Fix = "run: bbkey doctor --fix, or: " + strings.Join(cmds, " && ")
		r.fixes = []*Fix{{Key: "acl", Description: "make private to you (a protected ACL for you, SYSTEM and Administrators): " + strings.Join(paths, ", "), apply: applyPerms(auto)}}
	case !manual:
		r.fixes = []*Fix{{Key: "chmod", Description: "tighten permissions: " + strings.Join(cmds, "; "), apply: applyPerms(auto)}}
	}
	return r
}

func checkKeyPassphrase(_ context.Context, e *Env, _ Deps) Result {
	mks, err := e.keys()
	if err != nil || len(mks) == 0 {
		return Result{Status: Skipped, Summary: "skipped: no bbkey key to check"}
	}
	// Only the plain keys are findings: a protected one listed under the warning would
	// read as a second key without a passphrase.
	var fs []finding
	read := 0
	for _, k := range mks {
		if k.fileErr != nil {
			continue
		}
		read++
		if !k.encrypted {
			fs = append(fs, finding{Warn, fmt.Sprintf("%s: %s has no passphrase", k.what(), k.Path),
				"anyone who gets a copy of the file (a backup, a stolen disk) can use the key", "add a passphrase: ssh-keygen -p -f " + k.Path})
		}
	}
	switch {
	case read == 0:
		return Result{Status: Skipped, Summary: "skipped: no key file to read"}
	case len(fs) == 0:
		return Result{Status: OK, Summary: text.Plural(read, "the key is", "every key is") + " passphrase-protected"}
	}
	return fold(fs, "")
}

func checkKeyAge(_ context.Context, e *Env, _ Deps) Result {
	mks, err := e.keys()
	if err != nil || len(mks) == 0 {
		return Result{Status: Skipped, Summary: "skipped: no bbkey key to check"}
	}
	now := e.Now()
	var fs []finding
	for _, k := range mks {
		ka := keylabel.AgeOf(k.Kind != keys.KindAccess, k.Label, k.Created)
		if ka.Created.IsZero() {
			continue
		}
		age := days(now.Sub(ka.Created))
		if !ka.Overdue(now) {
			fs = append(fs, finding{OK, fmt.Sprintf("%s: %d days", k.what(), age), "", ""})
			continue
		}
		fix := "run: bbkey rotate"
		if k.Kind == keys.KindAccess {
			fix += " --access-keys"
		}
		fs = append(fs, finding{Warn, fmt.Sprintf("%s is %d days old (policy: %d days)", k.what(), age, days(ka.Policy)),
			"Atlassian recommends replacing SSH keys at least once a year; an access key's label carries its own policy (ttl)", fix})
	}
	if len(fs) == 0 {
		return Result{Status: OK, Summary: "the keys' age is unknown (made outside bbkey)"}
	}
	r := fold(fs, "")
	if r.Status == OK {
		r.Summary = "within policy: " + r.Summary
	}
	return r
}

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

func checkKeyOnBitbucket(ctx context.Context, e *Env, deps Deps) Result {
	if d, bad := deps.failed("credential"); bad {
		return skip(d)
	}
	mks, _ := e.cloudKeys()
	ui, err := e.user()
	if len(mks) == 0 || err != nil {
		return Result{Status: Skipped, Summary: "skipped: no bbkey key to look up, or the credential could not be checked"}
	}
	now := e.Now()
	var fs []finding
	var list []backend.Key
	listed := false
	for _, k := range mks {
		if k.Kind != keys.KindAccount || k.Fingerprint == "" {
			continue
		}
		if k.AccountUUID != "" && ui.User.ID != "" && k.AccountUUID != ui.User.ID {
			fs = append(fs, finding{OK, fmt.Sprintf("%s: not checked (it belongs to another account than %s)", k.what(), ui.User.Nickname), "", ""})
			continue
		}
		if !listed {
			list, err = ui.Cloud.AccountKeys(ctx, ui.User)
			listed = true
		}
		if err != nil {
			return Result{Status: Fail, Summary: "cannot list the account's SSH keys: " + err.Error(),
				Cause: "the credential lacks read:ssh-key:bitbucket, or Bitbucket is unreachable",
				Fix:   apierr.FirstHint(err, renewFix(ui.Cred.Source))}
		}
		i := slices.IndexFunc(list, func(bk backend.Key) bool { return bbapi.SameFingerprint(bk.Fingerprint, k.Fingerprint) })
		var exp time.Time
		if i >= 0 {
			exp = list[i].Expires
		}
		switch {
		case i < 0:
			fs = append(fs, finding{Fail, fmt.Sprintf("%s (%s) is not on the Bitbucket account %s", k.what(), k.Fingerprint, ui.User.Nickname), notOnBitbucket, "run: bbkey setup --name " + k.Name})
		case !exp.IsZero() && !exp.After(now):
			fs = append(fs, finding{Fail, fmt.Sprintf("%s expired on %s", k.what(), exp.UTC().Format(time.DateOnly)), notOnBitbucket, "run: bbkey rotate"})
		case !exp.IsZero() && exp.Sub(now) < ExpiryWarning:
			fs = append(fs, finding{Warn, fmt.Sprintf("%s expires on %s", k.what(), exp.UTC().Format(time.DateOnly)), "an expired key is refused over SSH", "run: bbkey rotate"})
		default:
			fs = append(fs, finding{OK, fmt.Sprintf("%s on %s as %q", k.what(), ui.User.Nickname, list[i].Label), "", ""})
		}
	}
	fs = append(fs, checkAccessTargets(ctx, e, ui, mks)...)
	if len(fs) == 0 {
		return Result{Status: OK, Summary: "no key to look up"}
	}
	return fold(fs, "")
}

const notOnBitbucket = "a key that is not on Bitbucket (deleted on bitbucket.org, never uploaded, or expired) is refused over SSH"

// checkAccessTargets looks each access key up on the repositories and projects the state
// says it was added to, a few at a time.
func checkAccessTargets(ctx context.Context, e *Env, ui userInfo, mks []managedKey) []finding {
	type job struct {
		k managedKey
		t state.Target
	}
	var jobs []job
	for _, k := range mks {
		for _, t := range k.Targets {
			if k.Kind == keys.KindAccess && k.Fingerprint != "" {
				jobs = append(jobs, job{k, t})
			}
		}
	}
	var fs []finding
	if len(jobs) > maxTargets {
		fs = append(fs, finding{Warn, fmt.Sprintf("%d access-key targets not looked up (only the first %d are)", len(jobs)-maxTargets, maxTargets), "", ""})
		jobs = jobs[:maxTargets]
	}
	outs := make([]finding, len(jobs))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			place := backend.Place{Kind: backend.PlaceKind(j.t.Kind), Owner: j.t.Workspace, Slug: j.t.Slug}
			found, err := ui.Cloud.FindAccessKey(ctx, place, j.k.Fingerprint)
			switch {
			case err != nil:
				outs[i] = finding{Fail, fmt.Sprintf("%s on %s: %v", j.k.what(), j.t.Ref(), err), "", ""}
			case found == nil:
				outs[i] = finding{Fail, fmt.Sprintf("%s is not on %s %s", j.k.what(), j.t.Kind, j.t.Ref()), notOnBitbucket,
					fmt.Sprintf("run: bbkey add-access-key --%s %s --name %s", j.t.Kind, j.t.Ref(), j.k.Name)}
			default:
				outs[i] = finding{OK, fmt.Sprintf("%s on %s", j.k.what(), j.t.Ref()), "", ""}
			}
		})
	}
	wg.Wait()
	return append(fs, outs...)
}
