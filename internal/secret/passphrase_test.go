package secret

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

func env(kv ...string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1], true
			}
		}
		return "", false
	}
}

func writeSecret(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewSources(t *testing.T) {
	tests := []struct {
		name   string
		src    Source
		want   string
		asked  int
		answer []string
	}{
		{name: "file strips one newline", src: Source{File: writeSecret(t, testPass+"\n")}, want: testPass},
		{name: "file strips crlf", src: Source{File: writeSecret(t, testPass+"\r\n")}, want: testPass},
		{name: "file without newline", src: Source{File: writeSecret(t, "  spaces kept  ")}, want: "  spaces kept  "},
		{name: "file wins over env", src: Source{File: writeSecret(t, testPass), LookupEnv: env(PassphraseEnv, "from the environment")}, want: testPass},
		{name: "env", src: Source{LookupEnv: env(PassphraseEnv, "from the environment")}, want: "from the environment"},
		{name: "env wins over prompt", src: Source{LookupEnv: env(PassphraseEnv, "from the environment"), Prompter: &prompttest.Fake{}}, want: "from the environment"},
		{name: "prompt twice", src: Source{LookupEnv: env()}, answer: []string{testPass, testPass}, want: testPass, asked: 2},
		{name: "mismatch then match", answer: []string{testPass, "typo", testPass, testPass}, want: testPass, asked: 4},
		{name: "too short then fine", answer: []string{"short", testPass, testPass}, want: testPass, asked: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &prompttest.Fake{Answers: tt.answer}
			if tt.src.Prompter == nil {
				tt.src.Prompter = fake
			}
			got, err := tt.src.NewPassphrase()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("passphrase = %q, want %q", got, tt.want)
			}
			if len(fake.Asked) != tt.asked {
				t.Errorf("asked %d times (%q), want %d", len(fake.Asked), fake.Asked, tt.asked)
			}
		})
	}
}

func TestNewPassphraseRetryLabels(t *testing.T) {
	fake := &prompttest.Fake{Answers: []string{"short", testPass, "typo", testPass, testPass}}
	_, err := Source{Prompter: fake}.NewPassphrase()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Passphrase for the new key",
		"the passphrase is shorter than 8 characters; passphrase for the new key",
		"Same passphrase again",
		"The passphrases differ; passphrase for the new key",
		"Same passphrase again",
	}
	if !slices.Equal(fake.Asked, want) {
		t.Errorf("labels = %q, want %q", fake.Asked, want)
	}
}

func TestNewPassphraseErrors(t *testing.T) {
	tests := []struct {
		name     string
		src      Source
		answers  []string
		code     int
		contains []string
	}{
		{
			name: "no terminal", src: Source{NoInput: true, Prompter: &prompttest.Fake{}},
			code: 2, contains: []string{"cannot prompt", "--passphrase-file", PassphraseEnv},
		},
		{
			name: "no prompter", src: Source{},
			code: 2, contains: []string{"--passphrase-file", PassphraseEnv},
		},
		{
			name: "empty env", src: Source{LookupEnv: env(PassphraseEnv, "")},
			code: 2, contains: []string{"empty", "--no-passphrase"},
		},
		{
			name: "empty file", src: Source{File: writeSecret(t, "\n")},
			code: 2, contains: []string{"empty", "--no-passphrase"},
		},
		{
			name: "short env", src: Source{LookupEnv: env(PassphraseEnv, "abc")},
			code: 2, contains: []string{"shorter than 8", "--no-passphrase"},
		},
		{
			name: "missing file", src: Source{File: filepath.Join(t.TempDir(), "nope")},
			code: 2, contains: []string{"--passphrase-file", "nope"},
		},
		{
			name: "three mismatches", answers: []string{testPass, "a-typo-1", testPass, "a-typo-2", testPass, "a-typo-3"},
			code: 2, contains: []string{"3 tries"},
		},
		{
			name: "no-passphrase with a file", src: Source{NoPassphrase: true, File: writeSecret(t, testPass)},
			code: 2, contains: []string{"--no-passphrase", "--passphrase-file"},
		},
		{
			name: "ctrl-c", answers: nil, src: Source{Prompter: cancelPrompter{}},
			code: 2, contains: []string{"cancelled"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.src.Prompter == nil && tt.answers != nil {
				tt.src.Prompter = &prompttest.Fake{Answers: tt.answers}
			}
			got, err := tt.src.NewPassphrase()
			if err == nil {
				t.Fatalf("NewPassphrase = %q, want an error", got)
			}
			if c := errkind.ExitCode(err); c != tt.code {
				t.Errorf("exit code = %d, want %d (%v)", c, tt.code, err)
			}
			all := err.Error() + " " + strings.Join(errkind.Hints(err), " ")
			for _, s := range tt.contains {
				if !strings.Contains(all, s) {
					t.Errorf("error and hints %q lack %q", all, s)
				}
			}
		})
	}
}

type cancelPrompter struct{ *prompttest.Fake }

func (cancelPrompter) Secret(string) ([]byte, error) { return nil, prompt.ErrCancelled }

func TestNoPassphrase(t *testing.T) {
	got, err := Source{NoPassphrase: true, LookupEnv: env(PassphraseEnv, testPass)}.NewPassphrase()
	if err != nil || got != nil {
		t.Errorf("NoPassphrase = %q, %v; want nil, nil (the flag wins over the environment)", got, err)
	}
}

func TestPassphraseFileReadableByOthers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pass")
	testutil.WriteOpenFile(t, p, []byte(testPass)) // Unix: 0644; Windows: Everyone may read it
	_, err := Source{File: p}.NewPassphrase()
	var pe *keys.PermissionError
	if runtime.GOOS == "windows" {
		// The hint is the icacls lines, naming the principal to remove.
		if !errors.As(err, &pe) || !strings.Contains(pe.Problem, "Everyone") || len(pe.FixLines) != 3 ||
			pe.FixLines[0] != `icacls "`+p+`" /inheritance:r` || pe.FixLines[2] != `icacls "`+p+`" /remove:g "Everyone"` {
			t.Fatalf("err = %v, want a keys.PermissionError naming Everyone, fixed by icacls", err)
		}
	} else if !errors.As(err, &pe) || pe.Fix != "chmod 600 "+p {
		t.Fatalf("err = %v, want a keys.PermissionError fixed by chmod 600", err)
	}
	if _, _, err := (Source{File: p}).existing("k"); !errors.As(err, &pe) {
		t.Errorf("existing: err = %v, want a keys.PermissionError", err)
	}
}

func TestExistingPassphraseAsksOnce(t *testing.T) {
	fake := &prompttest.Fake{Answers: []string{"x"}}
	got, _, err := Source{Prompter: fake}.existing("/k")
	if err != nil || string(got) != "x" {
		t.Fatalf("existing = %q, %v", got, err)
	}
	if !slices.Equal(fake.Asked, []string{"Passphrase for /k"}) {
		t.Errorf("asked %q", fake.Asked)
	}
	_, _, err = Source{NoInput: true, Prompter: fake}.existing("/k")
	if errkind.ExitCode(err) != 2 || !strings.Contains(err.Error(), "/k") {
		t.Errorf("no input: err = %v (exit %d)", err, errkind.ExitCode(err))
	}
}

func TestUnlock(t *testing.T) {
	dir := t.TempDir()
	enc := mustGenerate(t, filepath.Join(dir, "enc"), testPass)
	plain := mustGenerate(t, filepath.Join(dir, "plain"), "")

	fake := &prompttest.Fake{Answers: []string{"", "wrong one", testPass}}
	k, err := Source{Prompter: fake}.Unlock(enc.Path)
	if err != nil || k.Fingerprint != enc.Fingerprint || !k.HasPrivate() {
		t.Fatalf("Unlock after Enter and a typo = %+v, %v", k, err)
	}
	if len(fake.Asked) != 3 {
		t.Errorf("asked %d times, want 3", len(fake.Asked))
	}

	// A wrong passphrase from the environment is not asked for again.
	fake = &prompttest.Fake{Answers: []string{testPass}}
	_, err = Source{Prompter: fake, LookupEnv: env(PassphraseEnv, "wrong one")}.Unlock(enc.Path)
	if !errors.Is(err, keys.ErrIncorrectPassphrase) || len(fake.Asked) != 0 {
		t.Errorf("Unlock with a wrong env passphrase: err = %v, asked %d", err, len(fake.Asked))
	}

	fake = &prompttest.Fake{Answers: []string{"a", "b", "c", testPass}}
	if _, err = (Source{Prompter: fake}).Unlock(enc.Path); !errors.Is(err, keys.ErrIncorrectPassphrase) || len(fake.Asked) != 3 {
		t.Errorf("three wrong: err = %v, asked %d, want 3", err, len(fake.Asked))
	}

	fake = &prompttest.Fake{}
	k, err = Source{Prompter: fake}.Unlock(plain.Path)
	if err != nil || !k.HasPrivate() || len(fake.Asked) != 0 {
		t.Errorf("Unlock of an unencrypted key = %v, asked %q", err, fake.Asked)
	}
}

// Issue 13, defect 14: the rule for a passphrase file. One trailing newline (\n or \r\n)
// is not part of the passphrase, spaces are; a second line is refused, never taken into
// the passphrase.
func TestPassphraseFileRule(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]string{
		"pass word\n":               "pass word",
		"pass word \n":              "pass word ",
		"pass word\r\n":             "pass word",
		"pass word":                 "pass word",
		"pass word\n\n":             "",
		"pass\nword\n":              "",
		"pass word\n# the CI key\n": "",
		"pass\rword":                "",
	} {
		p := filepath.Join(dir, "pass")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Source{File: p}.NewPassphrase()
		if want == "" {
			if errkind.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), "more than one line") || len(errkind.Hints(err)) == 0 {
				t.Errorf("%q: %q, %v; want a usage error naming the second line", content, got, err)
			}
			continue
		}
		if err != nil || string(got) != want {
			t.Errorf("%q: %q, %v; want %q", content, got, err, want)
		}
	}
}

// TestInput: the prompter is built only when input is allowed, and a missing one means
// no terminal.
func TestInput(t *testing.T) {
	built := 0
	p := &prompttest.Fake{}
	prompter := func() prompt.Prompter { built++; return p }
	if s := Input("f", env(), true, prompter); built != 0 || s.Prompter != nil || !s.NoInput || s.File != "f" || s.LookupEnv == nil {
		t.Errorf("--no-input: %+v, prompter built %d times", s, built)
	}
	if s := Input("", env(), false, prompter); built != 1 || s.Prompter != p || s.NoInput {
		t.Errorf("with input: %+v, prompter built %d times", s, built)
	}
	if s := Input("", env(), false, nil); s.Prompter != nil || s.canPrompt("x") == nil {
		t.Errorf("no prompter: %+v can prompt", s)
	}
}
