// Package e2e runs the built bbkey binary end to end: a throw-away home, a real
// ssh-agent, real git and ssh, and the Bitbucket emulator over loopback. The harness is in
// harness_test.go; each command's scenarios live in their own <command>_test.go.
package e2e
