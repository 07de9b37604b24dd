package bbapitest

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// parseQuery compiles the subset of Bitbucket's filter language (BBQL) that listing
// repositories needs: comparisons `field op "value"` joined with AND, where field is name,
// slug, full_name, uuid, project.key or project.name and op is =, !=, ~ (contains, case
// insensitive) or !~. Everything else (OR, parentheses, other fields, unquoted values) is
// refused, so a client that relies on more finds out here rather than in production.
func parseQuery(q string) (func(*repo) bool, error) {
	if strings.TrimSpace(q) == "" {
		return func(*repo) bool { return true }, nil
	}
	toks, err := lexQuery(q)
	if err != nil {
		return nil, err
	}
	var preds []func(*repo) bool
	for i := 0; ; {
		if i+3 > len(toks) {
			return nil, fmt.Errorf("Invalid query: incomplete expression in %q", q)
		}
		field, op, val := toks[i], toks[i+1], toks[i+2]
		if field.kind != tokIdent || op.kind != tokOp || val.kind != tokString {
			return nil, fmt.Errorf("Invalid query: expected field, operator and quoted value near %q", field.text)
		}
		get, ok := repoFields[field.text]
		if !ok {
			return nil, fmt.Errorf("Invalid field name: %s", field.text)
		}
		preds = append(preds, compare(get, op.text, val.text))
		i += 3
		if i == len(toks) {
			break
		}
		if toks[i].kind != tokIdent || !strings.EqualFold(toks[i].text, "AND") {
			return nil, fmt.Errorf("Invalid query: unsupported token %q (only AND is supported)", toks[i].text)
		}
		i++
	}
	return func(r *repo) bool {
		for _, p := range preds {
			if !p(r) {
				return false
			}
		}
		return true
	}, nil
}

var repoFields = map[string]func(*repo) string{
	"name":         func(r *repo) string { return r.name },
	"slug":         func(r *repo) string { return r.slug },
	"full_name":    func(r *repo) string { return r.fullName() },
	"uuid":         func(r *repo) string { return r.uuid },
	"project.key":  func(r *repo) string { return r.project.key },
	"project.name": func(r *repo) string { return r.project.name },
}

func compare(get func(*repo) string, op, val string) func(*repo) bool {
	contains := func(r *repo) bool { return strings.Contains(strings.ToLower(get(r)), strings.ToLower(val)) }
	switch op {
	case "=":
		return func(r *repo) bool { return get(r) == val }
	case "!=":
		return func(r *repo) bool { return get(r) != val }
	case "~":
		return contains
	default: // "!~"
		return func(r *repo) bool { return !contains(r) }
	}
}

type tokKind int

const (
	tokIdent tokKind = iota
	tokOp
	tokString
)

type qtoken struct {
	kind tokKind
	text string
}

func lexQuery(q string) ([]qtoken, error) {
	var toks []qtoken
	rs := []rune(q)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(rs) {
				if rs[i] == '\\' && i+1 < len(rs) {
					b.WriteRune(rs[i+1])
					i += 2
					continue
				}
				if rs[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			if !closed {
				return nil, errors.New("Invalid query: unterminated string")
			}
			toks = append(toks, qtoken{tokString, b.String()})
		case c == '=' || c == '~':
			toks = append(toks, qtoken{tokOp, string(c)})
			i++
		case c == '!' && i+1 < len(rs) && (rs[i+1] == '=' || rs[i+1] == '~'):
			toks = append(toks, qtoken{tokOp, string(rs[i : i+2])})
			i += 2
		case unicode.IsLetter(c) || c == '_':
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == '.') {
				j++
			}
			toks = append(toks, qtoken{tokIdent, string(rs[i:j])})
			i = j
		default:
			return nil, fmt.Errorf("Invalid query: unexpected character %q", c)
		}
	}
	return toks, nil
}
