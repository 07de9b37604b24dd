package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/redact"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
)

// syncFix rewrites what identity.Sync derives from the state: bbkey's config, the
// Include line and the pinned known_hosts. It also records the run's settings, so an
// endpoint given with --fix (--ssh-endpoint altssh.bitbucket.org:443) stays.
func syncFix(e *Env) *Fix {
	return &Fix{Key: "sync", Description: "rewrite ~/.ssh/bbkey/config, bbkey's Include line at the top of ~/.ssh/config and the pinned ~/.ssh/bbkey/known_hosts from bbkey's state",
		apply: func(ctx context.Context) ([]string, error) {
			st, err := state.Dir{Path: e.Paths.ConfigDir, Now: e.Now}.Load()
			if err != nil {
				return nil, err
			}
			res, err := identity.Regenerate(ctx, e.Settings, e.Paths.SSHDir, st, false)
			if err != nil {
				return res.ChangedFiles, err
			}
			changed := res.ChangedFiles
			if e.PersistSettings != nil {
				f, err := e.PersistSettings(e.Settings)
				if err != nil {
					return changed, fmt.Errorf("recording the settings: %w", err)
				}
				if f != "" {
					changed = append(changed, f)
				}
			}
			return changed, nil
		}}
}

// syncChanges returns what a sync would change. Without keys in the state there is
// nothing to derive the files from (and a sync would empty them), so the checks skip.
func syncChanges(e *Env, deps Deps) (identity.Result, *Result) {
	if st, err := e.state(); err != nil || len(inventory.RecordedKeys(st)) == 0 {
		r := Result{Status: Skipped, Summary: "skipped: bbkey's state records no key"}
		if d, bad := deps.failed("key-files"); bad {
			r = skip(d)
		}
		return identity.Result{}, &r
	}
	sr, err := e.syncResult()
	if err != nil {
		return sr, &Result{Status: Fail, Summary: "cannot work out bbkey's ssh config: " + err.Error()}
	}
	return sr, nil
}

func changedFile(sr identity.Result, path string) bool {
	return slices.ContainsFunc(sr.ChangedFiles, func(f string) bool { return filepath.Clean(f) == filepath.Clean(path) })
}

func checkSSHInclude(_ context.Context, e *Env, deps Deps) Result {
	sr, bad := syncChanges(e, deps)
	if bad != nil {
		return *bad
	}
	files := sshconfig.FilesIn(e.Paths.SSHDir)
	known := hostkeys.Path(e.Paths.SSHDir)
	// A sync that changes more than bbkey's own two files changes the user's config.
	if !slices.ContainsFunc(sr.ChangedFiles, func(f string) bool {
		return filepath.Clean(f) != filepath.Clean(files.Managed) && filepath.Clean(f) != filepath.Clean(known)
	}) {
		return Result{Status: OK, Summary: fmt.Sprintf("%s includes %s on its first line", files.UserConfig, files.Managed), Details: sr.Warnings}
	}
	r := Result{Status: Fail,
		Cause:   "ssh reads bbkey's Host blocks only through that line, and takes the first value it reads for each option, so the line must come before anything else",
		Fix:     "run: bbkey doctor --fix",
		Details: sr.Warnings,
		fixes:   []*Fix{syncFix(e)}}
	data, err := os.ReadFile(files.UserConfig)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.Summary = files.UserConfig + " does not exist, so ssh never reads bbkey's config"
	case err != nil:
		r.Summary = "cannot read " + files.UserConfig + ": " + err.Error()
	default:
		first, at, n := true, 0, 0
		for line := range bytes.Lines(data) {
			n++
			if sshconfig.IsIncludeLine(line) {
				at = n
				break
			}
			if len(bytes.TrimSpace(bytes.TrimPrefix(line, []byte("\ufeff")))) > 0 {
				first = false
			}
		}
		switch {
		case at == 0:
			r.Summary = fmt.Sprintf("%s has no Include line for %s", files.UserConfig, files.Managed)
		case !first:
			r.Summary = fmt.Sprintf("bbkey's Include line is line %d of %s, not the first: options above it win over bbkey's", at, files.UserConfig)
		default:
			r.Summary = fmt.Sprintf("bbkey's Include line in %s does not name %s", files.UserConfig, files.Managed)
		}
	}
	return r
}

func checkSSHHosts(_ context.Context, e *Env, deps Deps) Result {
	sr, bad := syncChanges(e, deps)
	if bad != nil {
		return *bad
	}
	files := sshconfig.FilesIn(e.Paths.SSHDir)
	var aliases []string
	for _, b := range sr.Blocks {
		aliases = append(aliases, b.Alias)
	}
	if !changedFile(sr, files.Managed) {
		return Result{Status: OK, Summary: fmt.Sprintf("%s has the %s bbkey manages: %s", files.Managed,
			text.Plural(len(sr.Blocks), "Host block", "Host blocks"), strings.Join(aliases, ", "))}
	}
	r := Result{Status: Fail,
		Cause: "the file was edited by hand, or the endpoint, host name or keys changed since it was written",
		Fix:   "run: bbkey doctor --fix (the file is bbkey's own and is rewritten whole)",
		fixes: []*Fix{syncFix(e)}}
	cur, err := sshconfig.Read(e.Paths.SSHDir)
	switch {
	case err != nil:
		r.Summary = err.Error()
		r.Cause = "the file is bbkey's own, written whole from its state: a hand edit there stops the commands that rewrite it"
		r.Fix = "move your own settings from it into " + files.UserConfig + " (a Host block of your own, below bbkey's Include line), then run: bbkey doctor --fix (it regenerates the file and keeps the edited one as config.edited-<time>)"
	case !fsutil.MayExist(files.Managed):
		r.Summary = files.Managed + " is missing"
	default:
		r.Details = blockDiffs(cur, sr.Blocks)
		r.Summary = fmt.Sprintf("%s does not match the keys bbkey manages", files.Managed)
		if len(r.Details) == 1 {
			r.Summary += ": " + r.Details[0]
			r.Details = nil
		}
	}
	return r
}

// blockDiffs describes how the current Host blocks differ from the wanted ones.
func blockDiffs(cur, want []sshconfig.HostBlock) []string {
	var out []string
	for _, w := range want {
		c, ok := sshconfig.Find(cur, w.Alias)
		if !ok {
			out = append(out, "no Host block for "+w.Alias)
			continue
		}
		if c.HostName != w.HostName || c.Port != w.Port {
			out = append(out, fmt.Sprintf("Host %s connects to %s:%d, not %s:%d", w.Alias, c.HostName, c.Port, w.HostName, w.Port))
		}
		if c.IdentityFile != w.IdentityFile {
			out = append(out, fmt.Sprintf("Host %s uses IdentityFile %s, not %s", w.Alias, c.IdentityFile, w.IdentityFile))
		}
		if c.KnownHostsFile != w.KnownHostsFile || c.HostKeyAlias != w.HostKeyAlias {
			out = append(out, fmt.Sprintf("Host %s checks host keys in %s as %q, not in %s as %q", w.Alias, c.KnownHostsFile, c.HostKeyAlias, w.KnownHostsFile, w.HostKeyAlias))
		}
	}
	for _, c := range cur {
		if _, ok := sshconfig.Find(want, c.Alias); !ok {
			out = append(out, "Host "+c.Alias+" belongs to no key bbkey manages")
		}
	}
	if len(out) == 0 {
		out = append(out, "its text differs from what bbkey writes")
	}
	return out
}

func checkPinnedHostKeys(_ context.Context, e *Env, deps Deps) Result {
	sr, bad := syncChanges(e, deps)
	if bad != nil {
		return *bad
	}
	path := hostkeys.Path(e.Paths.SSHDir)
	pins, err := hostkeys.Pinned(e.Settings)
	if err != nil {
		return Result{Status: Fail, Summary: "cannot read the host keys to pin: " + err.Error(),
			Fix: "check the file given with --ssh-host-keys or BBKEY_SSH_HOST_KEYS"}
	}
	if !changedFile(sr, path) {
		return Result{Status: OK, Summary: fmt.Sprintf("%s pins %d host %s for %s (%s)", path, len(pins.Keys), text.Plural(len(pins.Keys), "key", "keys"), pins.Alias, pins.Source)}
	}
	r := Result{Status: Fail,
		Summary: fmt.Sprintf("%s does not hold the host keys pinned for %s (%s)", path, pins.Alias, pins.Source),
		Cause:   "ssh checks Bitbucket's host key against this file (StrictHostKeyChecking yes): without the right keys it stops with \"Host key verification failed\"",
		Fix:     "run: bbkey doctor --fix",
		fixes:   []*Fix{syncFix(e)}}
	if !fsutil.MayExist(path) {
		r.Summary = path + " is missing"
	}
	return r
}

// runSSHG is what `ssh -G` resolves for alias (HostName, Port, the first IdentityFile,
// HostKeyAlias).
func runSSHG(ctx context.Context, e *Env, alias string) (sshconfig.HostBlock, error) {
	bin, err := exec.LookPath("ssh")
	if err != nil {
		return sshconfig.HostBlock{}, err
	}
	args := []string{"-G"}
	if e.Paths.SSHDirFromEnv {
		// ssh reads the passwd entry's ~/.ssh, not BBKEY_SSH_DIR: name the file.
		args = append(args, "-F", sshconfig.FilesIn(e.Paths.SSHDir).UserConfig)
	}
	args = append(args, alias)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = redact.Environ(cmd.Environ()) // ssh -G needs none of bbkey's secrets
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return sshconfig.HostBlock{}, fmt.Errorf("ssh %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var g sshconfig.HostBlock
	for line := range strings.Lines(string(out)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToLower(k) {
		case "hostname":
			g.HostName = v
		case "port":
			g.Port, _ = strconv.Atoi(v)
		case "identityfile":
			if g.IdentityFile == "" {
				// ssh -G prints the value before expanding %-tokens: bbkey's %% is a %.
				g.IdentityFile = strings.ReplaceAll(v, "%%", "%")
			}
		case "hostkeyalias":
			g.HostKeyAlias = v
		}
	}
	return g, nil
}

// noSSH is the result of a check that needs ssh when it is not installed.
var noSSH = Result{Status: Fail, Summary: "ssh is not installed or not on PATH", Cause: "git runs ssh for SSH remotes", Fix: "install the OpenSSH client"}

// resolveDiffs runs ssh -G for want's alias and says where what ssh resolves differs from
// what bbkey wrote.
func resolveDiffs(ctx context.Context, e *Env, want sshconfig.HostBlock) (sshconfig.HostBlock, []string, error) {
	got, err := runSSHG(ctx, e, want.Alias)
	if err != nil {
		return got, nil, err
	}
	var diffs []string
	if !strings.EqualFold(got.HostName, want.HostName) {
		diffs = append(diffs, fmt.Sprintf("HostName %s (bbkey wrote %s)", got.HostName, want.HostName))
	}
	if got.Port != want.Port {
		diffs = append(diffs, fmt.Sprintf("Port %d (bbkey wrote %d)", got.Port, want.Port))
	}
	if !samePath(got.IdentityFile, want.IdentityFile, e.Paths.Home) {
		diffs = append(diffs, fmt.Sprintf("IdentityFile %s first (bbkey wrote %s)", got.IdentityFile, want.IdentityFile))
	}
	if want.HostKeyAlias != "" && !strings.EqualFold(got.HostKeyAlias, want.HostKeyAlias) {
		diffs = append(diffs, fmt.Sprintf("HostKeyAlias %q (bbkey wrote %s)", got.HostKeyAlias, want.HostKeyAlias))
	}
	return got, diffs, nil
}

// overridden are the cause and fix of ssh -G resolving other than bbkey wrote.
const overridden = "another setting wins over bbkey's: a Match block, a file ssh reads first, or an option given to ssh itself (GIT_SSH_COMMAND, core.sshCommand)"

func overrideFix(alias string) string {
	return fmt.Sprintf("find where it comes from with: ssh -v -G %s 2>&1 | grep -i -e 'reading configuration' -e 'applying options', and remove that setting", alias)
}

func checkSSHResolve(ctx context.Context, e *Env, deps Deps) Result {
	if d, bad := deps.failed("ssh-include", "ssh-hosts"); bad {
		return skip(d)
	}
	sr, err := e.syncResult()
	if err != nil || len(sr.Blocks) == 0 {
		return Result{Status: Skipped, Summary: "skipped: no Host block to resolve"}
	}
	want := sr.Blocks[0]
	if b, ok := sshconfig.Find(sr.Blocks, e.Settings.SSHHost); ok {
		want = b
	}
	if _, err := exec.LookPath("ssh"); err != nil {
		return noSSH
	}
	got, diffs, err := resolveDiffs(ctx, e, want)
	switch {
	case err != nil:
		return Result{Status: Fail, Summary: err.Error(), Cause: "ssh cannot read its configuration", Fix: "fix the line ssh names above in your ssh config"}
	case len(diffs) > 0:
		return Result{Status: Fail, Summary: fmt.Sprintf("ssh -G %s resolves %s", want.Alias, strings.Join(diffs, ", ")),
			Cause: overridden, Fix: overrideFix(want.Alias)}
	}
	return Result{Status: OK, Summary: fmt.Sprintf("ssh -G %s → %s:%d with %s", want.Alias, got.HostName, got.Port, got.IdentityFile)}
}

// samePath compares paths as ssh prints them (~ for the home) with bbkey's absolute ones.
func samePath(a, b, home string) bool {
	if strings.HasPrefix(a, "~/") && home != "" {
		a = filepath.Join(home, a[2:])
	}
	return filepath.Clean(filepath.FromSlash(a)) == filepath.Clean(filepath.FromSlash(b))
}
