// Package redact removes secrets from text before it reaches a terminal, a log or an
// error: passwords in URLs, Authorization headers, and any value the caller knows is
// secret.
package redact

import (
	"regexp"
	"strings"
)

// Mask replaces a secret.
const Mask = "***"

// userinfo matches scheme://user:password@ and scheme://token@ forms.
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@\s:]*)(:[^/@\s]*)?@`)

// URLs masks the password part of every URL's userinfo in s (user:secret@ → user:***@).
// A user name alone is kept unless it looks like a token (long, no dot or space), because
// `https://TOKEN@host` puts the secret where the user name goes.
func URLs(s string) string {
	return userinfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfo.FindStringSubmatch(m)
		scheme, user, pass := sub[1], sub[2], sub[3]
		if pass != "" {
			return scheme + user + ":" + Mask + "@"
		}
		if looksLikeToken(user) {
			return scheme + Mask + "@"
		}
		return m
	})
}

func looksLikeToken(s string) bool {
	return len(s) >= 20 && !strings.ContainsAny(s, ". ")
}

// Secrets replaces every occurrence of each non-empty secret in s with Mask.
func Secrets(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}

var authHeader = regexp.MustCompile(`(?im)^(authorization|proxy-authorization|cookie|set-cookie):.*$`)

// Headers masks credential-bearing header lines in an HTTP dump.
func Headers(s string) string {
	return authHeader.ReplaceAllString(s, "$1: "+Mask)
}
