package sshconfig

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzEnsureInclude checks the editor's promises on arbitrary input: the result starts
// with exactly one bbkey line that ssh would read as `Include <path>`; a second run changes
// nothing; removing bbkey's lines from the result gives the input without bbkey's lines
// (so every byte of the user's own lines survives, in order).
// Seeds: testdata/fuzz/FuzzEnsureInclude plus the corpus.
func FuzzEnsureInclude(f *testing.F) {
	for _, b := range corpus(f) {
		f.Add(b, "/home/ada/.ssh/bbkey/config")
	}
	f.Fuzz(func(t *testing.T, in []byte, path string) {
		if path == "" || strings.ContainsAny(path, "\r\n\x00") {
			t.Skip("not a path bbkey would write")
		}
		out, changed := EnsureInclude(in, path)
		if changed == bytes.Equal(out, in) {
			t.Fatalf("changed = %v for %q → %q", changed, in, out)
		}

		again, changed := EnsureInclude(out, path)
		if changed || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}

		inWithout, _ := RemoveInclude(in)
		outWithout, _ := RemoveInclude(out)
		if !bytes.Equal(inWithout, outWithout) {
			t.Fatalf("user lines changed:\nin  %q\nout %q", inWithout, outWithout)
		}
		if !bytes.Contains(in, []byte(markerPrefix)) && !bytes.Equal(outWithout, in) {
			t.Fatalf("removing bbkey's line does not give the input back:\n%q\n%q", in, outWithout)
		}

		// The result parses: its first line, after any BOM, is bbkey's Include of path, and
		// it is the only bbkey line.
		_, body := splitBOM(out)
		first, _, _ := bytes.Cut(body, []byte("\n"))
		kw, rest, _ := cutKeyword(string(bytes.TrimSuffix(first, []byte("\r"))))
		args, err := SplitArgs(rest)
		if kw != "Include" || err != nil || len(args) != 1 || args[0] != path {
			t.Fatalf("first line %q reads as %s %q (%v), want Include %q", first, kw, args, err, path)
		}
		n := 0
		for _, l := range bytes.SplitAfter(body, []byte("\n")) {
			if IsIncludeLine(l) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d bbkey lines in %q", n, out)
		}
	})
}
