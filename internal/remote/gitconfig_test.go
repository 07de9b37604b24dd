package remote

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestEditValues(t *testing.T) {
	originURL := valueEdit{section: "remote", sub: "origin", name: "url", old: "https://a:pw@bitbucket.org/ws/r.git", new: "git@ssh.bitbucket.org:ws/r.git"}
	tests := []struct {
		name  string
		in    string
		edits []valueEdit
		want  string // "" means errNotSimple
	}{
		{
			name:  "plain, bytes around kept",
			in:    "[core]\n\tbare = false\n# c\n[remote \"origin\"]\n\turl = https://a:pw@bitbucket.org/ws/r.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
			edits: []valueEdit{originURL},
			want:  "[core]\n\tbare = false\n# c\n[remote \"origin\"]\n\turl = git@ssh.bitbucket.org:ws/r.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
		},
		{
			name:  "case-insensitive section and name, CRLF, odd spacing",
			in:    "[Remote \"origin\"]\r\n  URL=https://a:pw@bitbucket.org/ws/r.git  \r\n",
			edits: []valueEdit{originURL},
			want:  "[Remote \"origin\"]\r\n  URL=git@ssh.bitbucket.org:ws/r.git  \r\n",
		},
		{
			name:  "subsection is case-sensitive",
			in:    "[remote \"Origin\"]\n\turl = https://a:pw@bitbucket.org/ws/r.git\n",
			edits: []valueEdit{originURL},
		},
		{
			name:  "other values of the key stay",
			in:    "[remote \"origin\"]\n\turl = https://github.com/x/y\n\turl = https://a:pw@bitbucket.org/ws/r.git\n",
			edits: []valueEdit{originURL},
			want:  "[remote \"origin\"]\n\turl = https://github.com/x/y\n\turl = git@ssh.bitbucket.org:ws/r.git\n",
		},
		{
			name:  "quoted value",
			in:    "[remote \"origin\"]\n\turl = \"https://a:pw@bitbucket.org/ws/r.git\"\n",
			edits: []valueEdit{originURL},
		},
		{
			name:  "continuation line anywhere",
			in:    "[alias]\n\tx = !echo \\\n\turl = y\n[remote \"origin\"]\n\turl = https://a:pw@bitbucket.org/ws/r.git\n",
			edits: []valueEdit{originURL},
		},
		{
			name:  "old-style header",
			in:    "[remote.origin]\n\turl = https://a:pw@bitbucket.org/ws/r.git\n",
			edits: []valueEdit{originURL},
		},
		{
			name:  "trailing comment",
			in:    "[remote \"origin\"]\n\turl = https://a:pw@bitbucket.org/ws/r.git ; mine\n",
			edits: []valueEdit{originURL},
		},
		{
			name:  "value not found",
			in:    "[remote \"origin\"]\n\turl = https://bitbucket.org/ws/other.git\n",
			edits: []valueEdit{originURL},
		},
		{
			name:  "header with a key on the same line",
			in:    "[remote \"origin\"] url = https://a:pw@bitbucket.org/ws/r.git\n",
			edits: []valueEdit{originURL},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := editValues([]byte(tt.in), tt.edits)
			if tt.want == "" {
				if !errors.Is(err, errNotSimple) {
					t.Fatalf("editValues = %q, %v; want errNotSimple", got, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("editValues = %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}
}

func TestReplaceValuesKeepsModeAndRespectsGitLock(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config")
	in := "[remote \"origin\"]\n\turl = https://a:pw@bitbucket.org/ws/r.git\n"
	if err := os.WriteFile(file, []byte(in), 0o640); err != nil {
		t.Fatal(err)
	}
	edit := []valueEdit{{section: "remote", sub: "origin", name: "url", old: "https://a:pw@bitbucket.org/ws/r.git", new: "git@ssh.bitbucket.org:ws/r.git"}}
	// git holds the lock: nothing is written.
	if err := os.WriteFile(file+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := replaceValues(file, edit); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("replaceValues under git's lock = %v", err)
	}
	if readFile(t, file) != in {
		t.Fatal("file changed under git's lock")
	}
	os.Remove(file + ".lock")
	if err := replaceValues(file, edit); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, file); got != "[remote \"origin\"]\n\turl = git@ssh.bitbucket.org:ws/r.git\n" {
		t.Errorf("file = %q", got)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 && runtime.GOOS != "windows" { // Windows has no mode bits to keep
		t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
	}
	if _, err := os.Stat(file + ".lock"); !os.IsNotExist(err) {
		t.Errorf("lock left behind: %v", err)
	}
}

// TestGitFallback checks the path through `git config` for configs the in-place edit
// refuses (a quoted value, several values of a key), and that no secret reaches git's
// command line on the way.
func TestGitFallback(t *testing.T) {
	g := newGitEnv(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "r")
	g.repo(dir)
	cfg := filepath.Join(dir, ".git", "config")
	extra := "[remote \"origin\"]\n\turl = \"https://alice:quoted-pw@bitbucket.org/ws/r.git\"\n" +
		"\tpushurl = https://github.com/ws/r.git\n\tpushurl = https://alice:multi-pw@bitbucket.org/ws/r.git\n" +
		"[url \"https://bitbucket.org/\"]\n\tinsteadOf = bb:\n"
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(extra); err != nil {
		t.Fatal(err)
	}
	f.Close()

	rec := &recordingGit{Runner: g.git}
	plan, err := PlanDir(ctx, rec, dir, Target{})
	if err != nil {
		t.Fatal(err)
	}
	if n := plan.NumChanges(); n != 3 {
		t.Fatalf("%d changes, want 3: %+v", n, plan.Repos[0].Changes)
	}
	if err := Apply(ctx, rec, plan); err != nil {
		t.Fatal(err)
	}
	if got := g.run(dir, "config", "--get-all", "remote.origin.url"); got != "git@ssh.bitbucket.org:ws/r.git\n" {
		t.Errorf("url = %q", got)
	}
	if got := g.run(dir, "config", "--get-all", "remote.origin.pushurl"); got != "https://github.com/ws/r.git\ngit@ssh.bitbucket.org:ws/r.git\n" {
		t.Errorf("pushurl values = %q", got)
	}
	if got := g.run(dir, "config", "--get-all", "url.git@ssh.bitbucket.org:.insteadof"); got != "bb:\n" {
		t.Errorf("insteadOf = %q", got)
	}
	writes := 0
	for _, args := range rec.calls {
		joined := strings.Join(args, " ")
		if strings.Contains(joined, "quoted-pw") || strings.Contains(joined, "multi-pw") {
			t.Errorf("secret on git's command line: %q", args)
		}
		if strings.Contains(joined, "--replace-all") || strings.Contains(joined, "--rename-section") {
			writes++
		}
	}
	if writes != 3 {
		t.Errorf("%d git config writes, want 3 (the file is not plain): %q", writes, rec.calls)
	}
}
