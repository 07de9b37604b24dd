package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/gitrun"
)

// entry is one variable as `git config --list --show-origin --show-scope -z` prints it.
type entry struct {
	scope string // local, worktree, global, system, command
	file  string // absolute path of the file that holds it; "" when not a file
	key   string // section[.subsection].name, section and name lower-cased by git
	value string
}

// section, subsection and name of the key.
func (e entry) parts() (section, sub, name string) {
	first := strings.IndexByte(e.key, '.')
	last := strings.LastIndexByte(e.key, '.')
	if first < 0 {
		return e.key, "", ""
	}
	if first == last {
		return e.key[:first], "", e.key[last+1:]
	}
	return e.key[:first], e.key[first+1 : last], e.key[last+1:]
}

// parseList parses the -z output of `git config --list --show-origin --show-scope`:
// records of scope NUL origin NUL key [LF value] NUL. Relative file origins are relative
// to dir, where git ran.
func parseList(out, dir string) ([]entry, error) {
	var es []entry
	fields := strings.Split(out, "\x00")
	if n := len(fields); n > 0 && fields[n-1] == "" {
		fields = fields[:n-1]
	}
	if len(fields)%3 != 0 {
		return nil, errors.New("unexpected output of git config --list")
	}
	for i := 0; i < len(fields); i += 3 {
		e := entry{scope: fields[i]}
		if f, ok := strings.CutPrefix(fields[i+1], "file:"); ok {
			e.file = AbsPath(dir, f)
		}
		e.key, e.value, _ = strings.Cut(fields[i+2], "\n")
		es = append(es, e)
	}
	return es, nil
}

// listConfig reads the configuration git sees in dir, includes followed as git follows
// them; gitArgs go before git's "config" (--git-dir=…).
func listConfig(ctx context.Context, git gitrun.Runner, dir string, gitArgs ...string) ([]entry, error) {
	out, err := git.Run(ctx, dir, slices.Concat(gitArgs, []string{"config", "--list", "--show-origin", "--show-scope", "-z"})...)
	if err != nil {
		return nil, err
	}
	return parseList(out, dir)
}

// readRepoConfig reads the repository's own configuration (scopes local and worktree).
// With gitDir, git is told the repository rather than left to find one from dir: a
// directory git does not take for a repository is then an error, not the configuration
// of the clone around it (or none).
func readRepoConfig(ctx context.Context, git gitrun.Runner, dir, gitDir string) ([]entry, error) {
	var gitArgs []string
	if gitDir != "" {
		// git reads a --git-dir that is missing or empty as no configuration at all.
		if _, err := os.Stat(filepath.Join(gitDir, "HEAD")); err != nil {
			return nil, fmt.Errorf("reading the git config of %s: not a git repository: %s has no HEAD", dir, gitDir)
		}
		gitArgs = []string{"--git-dir=" + gitDir}
	}
	all, err := listConfig(ctx, git, dir, gitArgs...)
	if err != nil {
		return nil, fmt.Errorf("reading the git config of %s: %w", dir, err)
	}
	return slices.DeleteFunc(all, func(e entry) bool {
		return e.scope != "local" && e.scope != "worktree" || e.file == ""
	}), nil
}

// readConfigFiles reads many repositories' config files (clean paths) with one git
// process: a config on git's stdin includes each of them, and --show-origin tells which
// file every variable came from. It returns the entries of each file git reported; files
// it did not (absent, unreadable, empty) are for the caller to read one by one. Entries of
// files the configs include themselves are dropped (see needsRepoRead).
func readConfigFiles(ctx context.Context, git gitrun.Runner, files []string) (map[string][]entry, error) {
	var b strings.Builder
	b.WriteString("[include]\n")
	byFile := make(map[string][]entry, len(files))
	for _, f := range files {
		if !strings.ContainsAny(f, "\n\r\x00") {
			fmt.Fprintf(&b, "\tpath = \"%s\"\n", quoteSubsection(f))
			byFile[f] = nil
		}
	}
	out, err := git.RunInput(ctx, "", b.String(), "config", "--file", "-", "--includes", "--list", "--show-origin", "--show-scope", "-z")
	if err != nil {
		return nil, fmt.Errorf("reading git configs: %w", err)
	}
	all, err := parseList(out, "")
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if es, want := byFile[e.file]; want {
			byFile[e.file] = append(es, e)
		}
	}
	maps.DeleteFunc(byFile, func(_ string, es []entry) bool { return es == nil })
	return byFile, nil
}

// needsRepoRead reports whether a config read through --file may differ from what git
// sees in the repository: includes (includeIf conditions need the repository) and
// per-worktree configuration.
func needsRepoRead(es []entry) bool {
	for _, e := range es {
		sec, _, name := e.parts()
		switch {
		case sec == "include", sec == "includeif" && name == "path":
			return true
		case e.key == "extensions.worktreeconfig":
			return true
		}
	}
	return false
}

// valuePattern matches old exactly, except that any credentials before the host are
// matched by a wildcard: the secret itself never reaches git's argv. It is a POSIX
// extended regular expression (git's value-pattern), where QuoteMeta's escapes
// (\.+*?()|[]{}^$) are as literal as in Go's.
func valuePattern(old string, secret bool) string {
	if head, _, rest, found := cutUser(old); secret && found {
		return "^" + regexp.QuoteMeta(head) + "[^/]*@" + regexp.QuoteMeta(rest) + "$"
	}
	return "^" + regexp.QuoteMeta(old) + "$"
}

// renameURLSection renames every `[url "<old>"]` header in file to `[url "<new>"]`,
// keeping every other byte. git's own `--rename-section` would need the old name, which
// holds a secret, on its command line.
func renameURLSection(file, oldBase, newBase string) error {
	return editLocked(file, func(data []byte) ([]byte, error) {
		var out bytes.Buffer
		n := 0
		for line := range bytes.Lines(data) {
			start, end, h, ok := sectionHeader(line)
			if ok && strings.EqualFold(h.section, "url") && h.sub == oldBase {
				out.Write(line[:start])
				out.WriteString(`[url "` + quoteSubsection(newBase) + `"]`)
				out.Write(line[end:])
				n++
				continue
			}
			out.Write(line)
		}
		if n == 0 {
			return nil, fmt.Errorf("no [url \"%s\"] section found in %s", Mask(oldBase), file)
		}
		return out.Bytes(), nil
	})
}

// editLocked rewrites file (a symlink's target) under git's own lock protocol, so it
// never races a git process: <file>.lock created exclusively with the file's mode, the
// file read under the lock, edit's result written, fsynced and renamed over the file.
func editLocked(file string, edit func([]byte) ([]byte, error)) error {
	target, err := fsutil.ResolveTarget(file)
	if err != nil {
		return err
	}
	fi, err := os.Stat(target)
	if err != nil {
		return err
	}
	lock := target + ".lock"
	f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s is locked by another git process (%s exists)", target, lock)
	} else if err != nil {
		return err
	}
	data, err := os.ReadFile(target)
	if err == nil {
		data, err = edit(data)
	}
	if err == nil {
		if _, err = f.Write(data); err == nil {
			err = f.Sync()
		}
		if err != nil {
			err = fmt.Errorf("writing %s: %w", target, err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", target, cerr)
	}
	if err == nil {
		if err = os.Rename(lock, target); err == nil {
			return nil
		}
		err = fmt.Errorf("writing %s: %w", target, err)
	}
	os.Remove(lock)
	return err
}

type header struct{ section, sub string }

var (
	// sectionRE matches a `[section "subsection"]` header after blanks. Old-style
	// `[section.sub]` headers are not matched: git lower-cases those, so no URL base is
	// written that way.
	sectionRE = regexp.MustCompile(`^[ \t]*(\[([A-Za-z0-9.-]+)[ \t]+"((?:\\[\s\S]|[^"\\\n])*)"\])`)
	escapeRE  = regexp.MustCompile(`\\([\s\S])`)
	// plainRE matches a `[section]` header alone on its line but for a comment.
	plainRE = regexp.MustCompile(`^\[[ \t]*([A-Za-z0-9-]+)[ \t]*\][ \t]*(?:[#;].*)?$`)
)

// sectionHeader finds a `[section "subsection"]` header at the start of line (after
// blanks) and returns its byte range.
func sectionHeader(line []byte) (start, end int, h header, ok bool) {
	m := sectionRE.FindSubmatchIndex(line)
	if m == nil {
		return 0, 0, h, false
	}
	h = header{string(line[m[4]:m[5]]), string(escapeRE.ReplaceAll(line[m[6]:m[7]], []byte("$1")))}
	return m[2], m[3], h, true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func quoteSubsection(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// valueEdit replaces, in one config file, every value old of section.sub.name with new.
type valueEdit struct {
	section, sub, name string // section and name compared without case, sub exactly
	old, new           string
}

// errNotSimple is returned by replaceValues when the file is not in the shape it edits.
var errNotSimple = errors.New("config file too complex for an in-place edit")

// replaceValues applies edits to file in one locked write (editLocked), changing only the
// bytes of each value replaced.
//
// It exists for speed: one `git config` process per changed key is what makes a shell
// loop of `git remote set-url` as fast as bbkey over a thousand clones. It is careful
// rather than general: git has already said which file holds each value (--show-origin),
// and the edit is refused with errNotSimple, before anything is written, unless every
// line of the file is plain (no continuation lines, no old-style [section.sub] headers)
// and every value edited is written unquoted, without escapes or a trailing comment, and
// found at least once. The caller falls back to `git config` then, and reads everything
// back through git afterwards either way.
func replaceValues(file string, edits []valueEdit) error {
	for _, e := range edits {
		if e.new == "" || strings.ContainsAny(e.new, "\"\\#;\n\r\t ") {
			return errNotSimple
		}
	}
	return editLocked(file, func(data []byte) ([]byte, error) { return editValues(data, edits) })
}

// editValues returns data with the edits applied, or errNotSimple.
func editValues(data []byte, edits []valueEdit) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(data) + 64*len(edits))
	found := make([]int, len(edits))
	var cur header
	for line := range bytes.Lines(data) {
		body := bytes.TrimRight(line, "\r\n")
		if bytes.HasSuffix(body, []byte(`\`)) {
			return nil, errNotSimple // a continuation line
		}
		trimmed := bytes.TrimLeft(body, " \t")
		switch {
		case len(trimmed) == 0 || trimmed[0] == '#' || trimmed[0] == ';':
			out.Write(line)
			continue
		case trimmed[0] == '[':
			h, ok := plainHeader(trimmed)
			if !ok {
				return nil, errNotSimple
			}
			cur = h
			out.Write(line)
			continue
		}
		// name [= value]
		n := 0
		for n < len(trimmed) && (isAlnum(trimmed[n]) || trimmed[n] == '-') {
			n++
		}
		name := string(trimmed[:n])
		is := func(e valueEdit) bool {
			return strings.EqualFold(cur.section, e.section) && cur.sub == e.sub && strings.EqualFold(name, e.name)
		}
		if !slices.ContainsFunc(edits, is) {
			out.Write(line)
			continue
		}
		rest := bytes.TrimLeft(trimmed[n:], " \t")
		if len(rest) == 0 || rest[0] != '=' {
			return nil, errNotSimple
		}
		val := bytes.Trim(rest[1:], " \t")
		if bytes.ContainsAny(val, "\"\\#;") {
			return nil, errNotSimple
		}
		matched := slices.IndexFunc(edits, func(e valueEdit) bool { return is(e) && string(val) == e.old })
		if matched < 0 {
			out.Write(line) // another value of the same key
			continue
		}
		if len(val) == 0 {
			return nil, errNotSimple
		}
		// val is a sub-slice of line (the trims only re-slice): its offset in line is the
		// difference of their capacities.
		start := cap(line) - cap(val)
		out.Write(line[:start])
		out.WriteString(edits[matched].new)
		out.Write(line[start+len(val):])
		found[matched]++
	}
	for _, n := range found {
		if n == 0 {
			return nil, errNotSimple
		}
	}
	return out.Bytes(), nil
}

// plainHeader parses a header line `[section]` or `[section "sub"]`, alone on its line
// apart from blanks and a comment. Old-style `[section.sub]` headers are refused.
func plainHeader(line []byte) (header, bool) {
	if start, end, h, ok := sectionHeader(line); ok && start == 0 {
		rest := bytes.TrimLeft(line[end:], " \t")
		return h, len(rest) == 0 || rest[0] == '#' || rest[0] == ';'
	}
	if m := plainRE.FindSubmatch(line); m != nil {
		return header{section: string(m[1])}, true
	}
	return header{}, false
}
