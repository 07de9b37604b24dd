// Package keylabel writes and reads the labels bbkey puts on Bitbucket keys,
// `bbkey:<name>:<YYYY-MM-DD>` with `:ttl=<duration>` for access keys, so that list, rotate
// and doctor can tell a key's owner, age and policy from Bitbucket alone. Keys whose label
// does not start with `bbkey:` are not bbkey's and are never changed.
package keylabel

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bbkey/bbkey/internal/text"
)

// Prefix starts every label bbkey writes.
const Prefix = "bbkey:"

// Label is a parsed bbkey label.
type Label struct {
	Name    string
	Created time.Time     // the creation date, midnight UTC
	TTL     time.Duration // 0 when the label has none
}

// MaxNameLen bounds a key name.
const MaxNameLen = 63

// ValidName reports whether name can be used as a key name, ^[a-z0-9][a-z0-9.-]{0,62}$: it
// goes into a file name (bbkey_<name>_ed25519, where '_' would be ambiguous), an ssh Host
// alias and a label (where ':' separates fields), and nothing else is safe in all three.
// (Checked by hand: a regexp compiled at package init costs every bbkey start-up.)
func ValidName(name string) error {
	ok := len(name) > 0 && len(name) <= MaxNameLen
	for i := 0; ok && i < len(name); i++ {
		ok = nameChar(rune(name[i])) && (i > 0 || name[i] != '.' && name[i] != '-')
	}
	if !ok {
		return fmt.Errorf("invalid key name %q: use 1-%d lowercase letters, digits, '.' or '-', starting with a letter or digit", name, MaxNameLen)
	}
	return nil
}

func nameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-'
}

// SanitizeName makes a key name of a host name or nickname: lowercased, each run of other
// characters replaced by one '-', trimmed, cut to MaxNameLen; "" when nothing is left.
func SanitizeName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if nameChar(r) {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), ".-")
	if len(out) > MaxNameLen {
		out = strings.TrimRight(out[:MaxNameLen], ".-")
	}
	return out
}

// String formats the label.
func (l Label) String() string {
	s := Prefix + l.Name + ":" + l.Created.UTC().Format(time.DateOnly)
	if l.TTL > 0 {
		s += ":ttl=" + FormatDuration(l.TTL)
	}
	return s
}

// Parse reads a label; ok is false for labels that are not bbkey's.
func Parse(s string) (Label, bool) {
	if !strings.HasPrefix(s, Prefix) {
		return Label{}, false
	}
	parts := strings.Split(strings.TrimPrefix(s, Prefix), ":")
	if len(parts) < 2 || ValidName(parts[0]) != nil {
		return Label{}, false
	}
	created, err := time.Parse(time.DateOnly, parts[1])
	if err != nil {
		return Label{}, false
	}
	l := Label{Name: parts[0], Created: created}
	for _, p := range parts[2:] {
		if v, ok := strings.CutPrefix(p, "ttl="); ok {
			if d, err := ParseDuration(v); err == nil {
				l.TTL = d
			}
		}
	}
	return l, true
}

// ParseDuration accepts Go durations plus days and weeks: "90d", "2w", "36h", "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	rest := s
	for {
		i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if i <= 0 || rest[i] != 'd' && rest[i] != 'w' {
			break
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		unit := 24 * time.Hour
		if rest[i] == 'w' {
			unit *= 7
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use e.g. 90d, 2w, 36h", s)
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf("invalid duration %q: must be positive", s)
	}
	return total, nil
}

// FormatAge writes a duration as a user types it: "90d", "1h", "36h", "90m".
func FormatAge(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return FormatDuration(d)
	}
	return text.ShortDuration(d)
}

// FormatDuration writes whole days as "90d" and anything else as Go does.
func FormatDuration(d time.Duration) string {
	day := 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
