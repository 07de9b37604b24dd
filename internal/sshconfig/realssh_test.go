package sshconfig

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/testutil"
)

// sshG runs `ssh -G -F file host` and returns each option's values in order (ssh prints
// multi-valued options such as identityfile once per value).
func sshG(t *testing.T, sshBin, file, host string) map[string][]string {
	t.Helper()
	cmd := exec.Command(sshBin, "-G", "-F", file, host)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh -G -F %s %s: %v\n%s", file, host, err, stderr.String())
	}
	opts := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		k = strings.ToLower(k)
		opts[k] = append(opts[k], v)
	}
	return opts
}

// TestCorpusWithRealSSH edits every corpus config in a throw-away ssh directory and asks
// the real ssh what it makes of the result: bbkey's aliases get bbkey's HostName, Port,
// User, IdentityFile (first), known-hosts file, HostKeyAlias and strict checking, whatever
// the user's file says below; and for every other host ssh's effective configuration is
// exactly what it was before the edit.
func TestCorpusWithRealSSH(t *testing.T) {
	sshBin := testutil.RequireBinary(t, "ssh")[0]
	for name, raw := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			if bytes.HasPrefix(raw, bom) {
				t.Skip("OpenSSH rejects a file that starts with a BOM before and after the edit (see TestApplyWarnsAboutBOM)")
			}
			// A space in bbkey's paths proves the quoting; the user's ~ is pointed into a
			// temp dir (without a space, their lines are unquoted) so their Includes never
			// read the real ~/.ssh.
			sshDir := filepath.Join(t.TempDir(), "Ada Lovelace", ".ssh")
			if err := os.MkdirAll(sshDir, 0o700); err != nil {
				t.Fatal(err)
			}
			in := bytes.ReplaceAll(raw, []byte("~/"), []byte(t.TempDir()+"/"))
			f := FilesIn(sshDir)
			if err := os.WriteFile(f.UserConfig, in, 0o600); err != nil {
				t.Fatal(err)
			}
			before := filepath.Join(t.TempDir(), "before.conf")
			if err := os.WriteFile(before, in, 0o600); err != nil {
				t.Fatal(err)
			}
			first := testBlock(sshDir, "ssh.bitbucket.org", "ada")
			work := testBlock(sshDir, "ssh.bitbucket.org-work", "work")
			work.HostName, work.Port = "ssh.bitbucket.org", 22
			if _, err := Apply(context.Background(), sshDir, []HostBlock{first, work}, Options{}); err != nil {
				t.Fatal(err)
			}
			after, _ := os.ReadFile(f.UserConfig)
			if want := slices.Concat([]byte(IncludeLine(filepath.ToSlash(f.Managed))), []byte(map[bool]string{true: "\r\n", false: "\n"}[expectCRLF(name)]), in); !bytes.Equal(after, want) {
				t.Fatalf("edited file is not the input plus one line:\n%q", after)
			}

			for _, b := range []HostBlock{first, work} {
				got := sshG(t, sshBin, f.UserConfig, b.Alias)
				check := func(key, want string) {
					t.Helper()
					if v := got[key]; len(v) == 0 || v[0] != want {
						t.Errorf("%s: ssh -G %s = %q, want %q first", b.Alias, key, v, want)
					}
				}
				check("hostname", b.HostName)
				check("port", itoa(b.Port))
				check("user", "git")
				check("identityfile", b.IdentityFile)
				check("userknownhostsfile", b.KnownHostsFile)
				check("hostkeyalias", "ssh.bitbucket.org")
				check("identitiesonly", "yes")
				check("stricthostkeychecking", "true")
				check("addkeystoagent", "true")
			}
			for _, other := range []string{"github.com", "prod", "devbox", "bitbucket.org"} {
				was, is := sshG(t, sshBin, before, other), sshG(t, sshBin, f.UserConfig, other)
				for k, v := range was {
					if !slices.Equal(is[k], v) {
						t.Errorf("%s: %s changed from %q to %q", other, k, v, is[k])
					}
				}
				if len(is) != len(was) {
					t.Errorf("%s: %d options before, %d after", other, len(was), len(is))
				}
			}
		})
	}
}

func itoa(n int) string {
	var b []byte
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
