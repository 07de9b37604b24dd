package sshconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testInclude = "/home/ada/.ssh/bbkey/config"

func TestIncludeLineQuoting(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/home/ada/.ssh/bbkey/config", `Include /home/ada/.ssh/bbkey/config ` + Marker},
		{"/Users/Ada Lovelace/.ssh/bbkey/config", `Include "/Users/Ada Lovelace/.ssh/bbkey/config" ` + Marker},
		{`/odd/"quote"/x`, `Include "/odd/\"quote\"/x" ` + Marker},
	}
	for _, tt := range tests {
		got := IncludeLine(tt.path)
		if got != tt.want {
			t.Errorf("IncludeLine(%q) = %q, want %q", tt.path, got, tt.want)
		}
		args, err := SplitArgs(strings.TrimPrefix(got, "Include "))
		if err != nil || !slices.Equal(args, []string{tt.path}) {
			t.Errorf("SplitArgs of %q = %q, %v; want the path back and the marker read as a comment", got, args, err)
		}
	}
}

func TestEnsureInclude(t *testing.T) {
	line := IncludeLine(testInclude)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", line + "\n"},
		{"lf", "Host a\n  User b\n", line + "\nHost a\n  User b\n"},
		{"crlf", "Host a\r\n  User b\r\n", line + "\r\nHost a\r\n  User b\r\n"},
		{"no newline", "Host a", line + "\nHost a"},
		{"bom kept first", "\xef\xbb\xbfHost a\r\n", "\xef\xbb\xbf" + line + "\r\nHost a\r\n"},
		{"already there", line + "\nHost a\n", line + "\nHost a\n"},
		{"moved from a Host block", "Host a\n  " + line + "\n  User b\n", line + "\nHost a\n  User b\n"},
		{"old path replaced", "Include /old/bbkey/config " + Marker + "\nHost a\n", line + "\nHost a\n"},
		{"duplicates collapse", line + "\n" + line + "\nHost a\n", line + "\nHost a\n"},
		{"edited comment still ours", "include=/old/x # added by bbkey (moved)\nHost a\n", line + "\nHost a\n"},
		{"user's own include kept", "Include ~/.ssh/other\n", line + "\nInclude ~/.ssh/other\n"},
		{"commented-out is the user's", "# Include /x " + Marker + "\n", line + "\n# Include /x " + Marker + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := EnsureInclude([]byte(tt.in), testInclude)
			if string(got) != tt.want {
				t.Fatalf("EnsureInclude(%q) =\n%q\nwant\n%q", tt.in, got, tt.want)
			}
			if changed != (tt.in != tt.want) {
				t.Errorf("changed = %v", changed)
			}
			again, changed := EnsureInclude(got, testInclude)
			if changed || !bytes.Equal(again, got) {
				t.Errorf("second run changed the file: %q", again)
			}
		})
	}
}

func TestRemoveInclude(t *testing.T) {
	in := "\xef\xbb\xbf" + IncludeLine(testInclude) + "\r\nHost a\r\n  User b\r\n"
	got, changed := RemoveInclude([]byte(in))
	if !changed || string(got) != "\xef\xbb\xbfHost a\r\n  User b\r\n" {
		t.Fatalf("RemoveInclude = %q, %v", got, changed)
	}
	if _, changed := RemoveInclude(got); changed {
		t.Error("removing from a file without the line reported a change")
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{`a b  c`, []string{"a", "b", "c"}, false},
		{`"a b" c`, []string{"a b", "c"}, false},
		{`'a "b"' c`, []string{`a "b"`, "c"}, false},
		{`a\ b`, []string{"a b"}, false},
		{`C:\Users\ada`, []string{`C:\Users\ada`}, false},
		{`x # comment "unterminated`, []string{"x"}, false},
		{`a#b`, []string{"a#b"}, false},
		{`"unterminated`, nil, true},
	}
	for _, tt := range tests {
		got, err := SplitArgs(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// corpus reads the real-world configs under testdata/corpus.
func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("corpus has %d configs, want at least 15", len(files))
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// expectCRLF says which corpus files start with a CRLF line, independently of the code
// under test.
func expectCRLF(name string) bool {
	return strings.Contains(name, "crlf") || strings.Contains(name, "mixed-endings")
}

// TestCorpusOneLineInserted: for every real-world config, the edit is exactly one line
// inserted at the top (after a BOM), in the file's line ending; everything else is
// byte-for-byte the same; a second run changes nothing; removal gives the input back.
func TestCorpusOneLineInserted(t *testing.T) {
	for name, in := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			if bytes.Contains(in, []byte(markerPrefix)) {
				t.Fatal("corpus files must not contain bbkey's line")
			}
			out, changed := EnsureInclude(in, testInclude)
			if !changed {
				t.Fatal("not changed")
			}
			eol := "\n"
			if expectCRLF(name) {
				eol = "\r\n"
			}
			prefix, rest := []byte(nil), in
			if bytes.HasPrefix(in, bom) {
				prefix, rest = bom, in[len(bom):]
			}
			want := slices.Concat(prefix, []byte(IncludeLine(testInclude)+eol), rest)
			if !bytes.Equal(out, want) {
				t.Fatalf("got\n%q\nwant\n%q", out, want)
			}
			if again, changed := EnsureInclude(out, testInclude); changed || !bytes.Equal(again, out) {
				t.Error("second run changed the file")
			}
			if back, _ := RemoveInclude(out); !bytes.Equal(back, in) {
				t.Errorf("RemoveInclude did not give the input back:\n%q", back)
			}
		})
	}
}

// RemoveInclude returns content without bbkey's marked Include lines and reports whether
// there were any: the inverse of EnsureInclude the tests check it against.
func RemoveInclude(content []byte) ([]byte, bool) {
	b, body := splitBOM(content)
	out := append([]byte{}, b...)
	out = appendUnmarked(out, body)
	return out, len(out) != len(content)
}
