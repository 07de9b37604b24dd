// Package sshconfig edits OpenSSH client configuration the way bbkey promises to: bbkey
// owns ~/.ssh/bbkey/config entirely and adds a single marked Include line at the very top
// of ~/.ssh/config, leaving every other byte of the user's file alone (line endings, BOM,
// tabs, Match blocks, other Includes, a symlinked file).
//
// Placement matters. ssh applies the first value it reads for each option, and an Include
// inside a Host or Match block only applies when that block matches, so the line goes
// before anything else: bbkey's HostName, Port, User and IdentityFile then win for its
// aliases, while the user's own global options still apply below it (ssh restores the
// including file's match state after an Include).
//
// The package has two layers: pure functions over bytes (EnsureInclude, RenderManaged,
// ParseManaged) that are fuzzed and tested against real `ssh -G`, and a file layer
// (Apply, Read, Check) that adds locking, atomic writes and dry runs.
package sshconfig

import (
	"bytes"
	"strings"
)

// Marker ends bbkey's Include line; any Include line carrying it is bbkey's, whatever path
// it names, so a moved ssh directory or an old line elsewhere is replaced, never doubled.
const Marker = "# added by bbkey: do not edit this line"

// markerPrefix is what identifies the line even if the user edited the rest of the comment.
const markerPrefix = "# added by bbkey"

var bom = []byte("\xef\xbb\xbf")

// IncludeLine is bbkey's marked Include line for includePath, without a line ending.
func IncludeLine(includePath string) string {
	return "Include " + QuoteArg(includePath) + " " + Marker
}

// EnsureInclude returns content with bbkey's Include line for includePath as its first
// line and reports whether that changed anything. Any other marked bbkey line is removed
// (so an old one elsewhere moves to the top); a UTF-8 BOM stays first; the new line takes
// the file's line ending (that of its first line). Every other byte is kept.
func EnsureInclude(content []byte, includePath string) ([]byte, bool) {
	b, body := splitBOM(content)
	out := make([]byte, 0, len(content)+len(includePath)+64)
	out = append(out, b...)
	out = append(out, IncludeLine(includePath)...)
	out = append(out, lineEnding(body)...)
	out = appendUnmarked(out, body)
	return out, !bytes.Equal(out, content)
}

// IsIncludeLine reports whether line (with or without its line ending) is a bbkey Include.
func IsIncludeLine(line []byte) bool {
	s := strings.TrimLeft(string(bytes.TrimRight(line, "\r\n")), " \t")
	s = strings.TrimPrefix(s, string(bom))
	kw, rest, ok := cutKeyword(s)
	return ok && strings.EqualFold(kw, "include") && strings.Contains(rest, markerPrefix)
}

// cutKeyword splits an ssh config line into its keyword and the rest, accepting the
// "Keyword value", "Keyword=value" and "Keyword = value" forms ssh accepts.
func cutKeyword(s string) (kw, rest string, ok bool) {
	i := strings.IndexAny(s, " \t=")
	if i <= 0 {
		return s, "", s != ""
	}
	kw, rest = s[:i], strings.TrimLeft(s[i:], " \t")
	rest = strings.TrimPrefix(rest, "=")
	return kw, strings.TrimLeft(rest, " \t"), true
}

func splitBOM(content []byte) (b, body []byte) {
	if bytes.HasPrefix(content, bom) {
		return content[:len(bom)], content[len(bom):]
	}
	return nil, content
}

// lineEnding is the ending of body's first line: CRLF files stay CRLF. A file without any
// line break gets "\n", which OpenSSH reads on every platform.
func lineEnding(body []byte) string {
	if i := bytes.IndexByte(body, '\n'); i > 0 && body[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// appendUnmarked appends every line of body that is not a bbkey Include line, with its
// own line ending, byte for byte.
func appendUnmarked(out, body []byte) []byte {
	for line := range bytes.Lines(body) {
		if !IsIncludeLine(line) {
			out = append(out, line...)
		}
	}
	return out
}

// QuoteArg writes s as one ssh config argument: bare when it is a plain word, else in
// double quotes with `"` and `\` escaped, as OpenSSH's argument splitter reads them.
func QuoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'#\\=") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := range len(s) { // bytes, not runes: a path need not be valid UTF-8
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// SplitArgs splits the arguments of an ssh config line as OpenSSH does: whitespace
// separated words, single or double quotes grouping, backslash escaping a quote, a
// backslash or (outside quotes) a space, and an unquoted `#` starting a comment.
func SplitArgs(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		in    bool // inside a word
		quote byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			if in {
				args = append(args, cur.String())
				cur.Reset()
				in = false
			}
		case quote == 0 && c == '#' && !in:
			return args, nil
		case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\'' || s[i+1] == '\\' || (quote == 0 && s[i+1] == ' ')):
			i++
			cur.WriteByte(s[i])
			in = true
		case quote == 0 && (c == '"' || c == '\''):
			quote, in = c, true
		case quote != 0 && c == quote:
			quote = 0
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, errUnterminatedQuote
	}
	if in {
		args = append(args, cur.String())
	}
	return args, nil
}
