package sshconfig

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

func testBlock(sshDir, alias, name string) HostBlock {
	return HostBlock{
		Alias:          alias,
		HostName:       "altssh.bitbucket.org",
		Port:           443,
		IdentityFile:   filepath.Join(sshDir, "bbkey_"+name+"_ed25519"),
		KnownHostsFile: filepath.Join(sshDir, "bbkey", "known_hosts"),
		HostKeyAlias:   "ssh.bitbucket.org",
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestApplyFreshHomeAndIdempotent(t *testing.T) {
	sshDir := filepath.Join(t.TempDir(), "home", ".ssh") // does not exist yet
	f := FilesIn(sshDir)
	blocks := []HostBlock{testBlock(sshDir, "ssh.bitbucket.org", "ada")}

	res, err := Apply(context.Background(), sshDir, blocks, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.ChangedFiles, []string{f.UserConfig, f.Managed}) {
		t.Errorf("ChangedFiles = %q", res.ChangedFiles)
	}
	if runtime.GOOS != "windows" {
		for path, want := range map[string]fs.FileMode{sshDir: 0o700, f.UserConfig: 0o600, f.Managed: 0o600} {
			if got := mode(t, path); got != want {
				t.Errorf("mode of %s = %v, want %v", path, got, want)
			}
		}
	}
	user, _ := os.ReadFile(f.UserConfig)
	if want := IncludeLine(filepath.ToSlash(f.Managed)) + "\n"; string(user) != want {
		t.Errorf("user config = %q, want %q", user, want)
	}
	got, err := Read(sshDir)
	if err != nil || !slices.Equal(got, blocks) {
		t.Errorf("Read = %+v, %v", got, err)
	}

	res, err = Apply(context.Background(), sshDir, blocks, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ChangedFiles) != 0 {
		t.Errorf("second run changed %q", res.ChangedFiles)
	}
}

func TestApplyDryRunWritesNothing(t *testing.T) {
	sshDir := filepath.Join(t.TempDir(), ".ssh")
	if err := os.Mkdir(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := FilesIn(sshDir)
	orig := "Host github.com\n  User git\n"
	if err := os.WriteFile(f.UserConfig, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Apply(context.Background(), sshDir, []HostBlock{testBlock(sshDir, "ssh.bitbucket.org", "ada")}, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ChangedFiles) != 2 || res.ChangedFiles[0] != f.UserConfig || res.ChangedFiles[1] != f.Managed {
		t.Errorf("ChangedFiles = %q", res.ChangedFiles)
	}
	if b, _ := os.ReadFile(f.UserConfig); string(b) != orig {
		t.Errorf("dry run changed the user config: %q", b)
	}
	if _, err := os.Stat(filepath.Dir(f.Managed)); !os.IsNotExist(err) {
		t.Errorf("dry run created %s: %v", filepath.Dir(f.Managed), err)
	}
}

func TestApplyEditsSymlinkTargetKeepingMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes and symlinks are Unix matters")
	}
	home := t.TempDir()
	sshDir := filepath.Join(home, ".ssh")
	dotfiles := filepath.Join(home, "dotfiles", "ssh_config")
	if err := os.MkdirAll(filepath.Dir(dotfiles), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	orig := "Host *\r\n\tIdentityFile ~/.ssh/id_rsa\r\n"
	if err := os.WriteFile(dotfiles, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	f := FilesIn(sshDir)
	if err := os.Symlink(dotfiles, f.UserConfig); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), sshDir, []HostBlock{testBlock(sshDir, "ssh.bitbucket.org", "ada")}, Options{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(f.UserConfig); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced: %v %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(dotfiles)
	if want := IncludeLine(f.Managed) + "\r\n" + orig; string(b) != want {
		t.Errorf("target = %q, want %q", b, want)
	}
	if got := mode(t, dotfiles); got != 0o640 {
		t.Errorf("target mode = %v, want 0640 kept", got)
	}
}

func TestApplyAddAndRemoveBlocks(t *testing.T) {
	sshDir := filepath.Join(t.TempDir(), ".ssh")
	ctx := context.Background()
	first := testBlock(sshDir, "ssh.bitbucket.org", "ada")
	work := testBlock(sshDir, "ssh.bitbucket.org-work", "work")
	for _, bs := range [][]HostBlock{{first}, {first, work}} {
		if _, err := Apply(ctx, sshDir, bs, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	moved := first
	moved.IdentityFile = filepath.Join(sshDir, "bbkey_ada2_ed25519")
	res, err := Apply(ctx, sshDir, []HostBlock{moved, work}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Blocks, []HostBlock{moved, work}) {
		t.Errorf("blocks = %+v", res.Blocks)
	}
	if b, _ := os.ReadFile(FilesIn(sshDir).Managed); strings.Contains(string(b), "IdentityFile "+filepath.ToSlash(first.IdentityFile)+"\n") ||
		!strings.Contains(string(b), "IdentityFile "+filepath.ToSlash(moved.IdentityFile)+"\n") {
		t.Errorf("the managed file does not show the identity change:\n%s", b)
	}
	res, err = Apply(ctx, sshDir, []HostBlock{moved}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(FilesIn(sshDir).Managed)
	if strings.Contains(string(b), "ssh.bitbucket.org-work") {
		t.Errorf("removed block still in the file:\n%s", b)
	}
	if !slices.Equal(res.ChangedFiles, []string{FilesIn(sshDir).Managed}) {
		t.Errorf("ChangedFiles = %q (the user config must not change again)", res.ChangedFiles)
	}
}

// TestApplyConcurrent: runs writing the same blocks at the same time (every command
// derives them from the state) leave one readable file and one Include line.
func TestApplyConcurrent(t *testing.T) {
	sshDir := filepath.Join(t.TempDir(), ".ssh")
	const n = 8
	var blocks []HostBlock
	for i := range n {
		blocks = append(blocks, testBlock(sshDir, fmt.Sprintf("ssh.bitbucket.org-n%d", i), fmt.Sprintf("n%d", i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := Apply(context.Background(), sshDir, blocks, Options{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	blocks, err := Read(sshDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != n {
		t.Fatalf("%d blocks survived, want %d: %+v", len(blocks), n, blocks)
	}
	user, _ := os.ReadFile(FilesIn(sshDir).UserConfig)
	if strings.Count(string(user), Marker) != 1 {
		t.Errorf("user config has %d bbkey lines:\n%s", strings.Count(string(user), Marker), user)
	}
}

func TestApplyRejectsBadBlocks(t *testing.T) {
	sshDir := filepath.Join(t.TempDir(), ".ssh")
	good := testBlock(sshDir, "ssh.bitbucket.org", "ada")
	tests := map[string]func(*HostBlock){
		"relative identity":  func(b *HostBlock) { b.IdentityFile = "~/.ssh/id" },
		"relative knownhost": func(b *HostBlock) { b.KnownHostsFile = "known_hosts" },
		"wildcard alias":     func(b *HostBlock) { b.Alias = "*.bitbucket.org" },
		"space in hostname":  func(b *HostBlock) { b.HostName = "a b" },
		"port":               func(b *HostBlock) { b.Port = 0 },
	}
	for name, mut := range tests {
		b := good
		mut(&b)
		if _, err := Apply(context.Background(), sshDir, []HostBlock{b}, Options{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Apply(context.Background(), sshDir, []HostBlock{good, good}, Options{}); err == nil {
		t.Error("duplicate alias: no error")
	}
	if _, err := os.Stat(FilesIn(sshDir).UserConfig); !os.IsNotExist(err) {
		t.Error("a refused edit wrote the user config")
	}
}

func TestApplyWarnsAboutBOM(t *testing.T) {
	sshDir := t.TempDir()
	f := FilesIn(sshDir)
	if err := os.WriteFile(f.UserConfig, []byte("\xef\xbb\xbfHost a\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Apply(context.Background(), sshDir, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "byte order mark") {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

func TestManagedRoundTrip(t *testing.T) {
	blocks := []HostBlock{
		testBlock("/home/ada/.ssh", "ssh.bitbucket.org", "ada"),
		testBlock("/Users/Ada Lovelace/.ssh", "ssh.bitbucket.org-access-ci01", "access_ci01"),
		{Alias: "bb", HostName: "127.0.0.1", Port: 2222, IdentityFile: filepath.FromSlash("/k"), KnownHostsFile: filepath.FromSlash("/kh")},
	}
	out := RenderManaged(blocks)
	if !strings.HasPrefix(string(out), Header) {
		t.Error("no header")
	}
	for _, want := range []string{"  User git\n", "  IdentitiesOnly yes\n", "  AddKeysToAgent yes\n", "  StrictHostKeyChecking yes\n",
		`  IdentityFile "/Users/Ada Lovelace/.ssh/bbkey_access_ci01_ed25519"` + "\n", "  HostKeyAlias ssh.bitbucket.org\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rendered file lacks %q:\n%s", want, out)
		}
	}
	got, err := ParseManaged(out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, blocks) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, blocks)
	}
}

func TestParseManagedRejectsHandEdits(t *testing.T) {
	for _, in := range []string{
		"HostName x\n",                   // outside a block
		"Host a\n  ProxyJump evil\n",     // unknown option
		"Host a b\n",                     // two patterns
		"Host a\n  Port many\n",          // bad port
		"Host a\n  IdentityFile \"/x\n",  // quote
		"Host a\n  IdentityFile /x /y\n", // two values
	} {
		if _, err := ParseManaged([]byte(in)); err == nil {
			t.Errorf("ParseManaged(%q): no error", in)
		}
	}
}
