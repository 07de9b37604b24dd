// Package redact removes secrets from text before it reaches a terminal, a log or an
// error: passwords in URLs, Authorization headers, and any value the caller knows is
// secret.
package redact

import (
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// Mask replaces a secret.
const Mask = "***"

// userinfo matches scheme://user:password@ and scheme://token@ forms.
var userinfo = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@\s:]*)(:[^/@\s]*)?@`)
})

// URLs masks the password part of every URL's userinfo in s (user:secret@ → user:***@).
// A user name alone is kept unless it looks like a token (long, no dot or space), because
// `https://TOKEN@host` puts the secret where the user name goes.
func URLs(s string) string {
	return userinfo().ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfo().FindStringSubmatch(m)
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

var authHeader = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?im)^(authorization|proxy-authorization|cookie|set-cookie):.*$`)
})

// Headers masks credential-bearing header lines in an HTTP dump.
func Headers(s string) string {
	return authHeader().ReplaceAllString(s, "$1: "+Mask)
}

// SecretEnv are the environment variables that bring secrets to bbkey. The programs it
// starts (git, and through it ssh; ssh -G; systemctl, launchctl, schtasks, crontab) never
// need them, and a child's environment is readable by every process of the user (and, on
// some systems, lands in crash reports and audit logs).
var SecretEnv = []string{"BITBUCKET_API_TOKEN", "BITBUCKET_CLIENT_SECRET", "BITBUCKET_ACCESS_TOKEN", "BITBUCKET_SERVER_TOKEN", "BBKEY_PASSPHRASE"}

// Environ returns env (KEY=VALUE entries, as exec.Cmd.Env takes) without SecretEnv.
func Environ(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(SecretEnv, func(s string) bool { return envKeyEqual(k, s) }) {
			out = append(out, kv)
		}
	}
	return out
}

// envKeyEqual compares variable names as the OS does: Windows ignores case.
func envKeyEqual(a, b string) bool {
	if runtime.GOOS == "windows" {
		return strings.EqualFold(a, b)
	}
	return a == b
}
