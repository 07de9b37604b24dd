package apierr

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/errkind"
)

// TestExplainDataCenter runs the Data Center client against the emulator in Data Center
// mode over real HTTP, as each kind of token a user may hold, and reads the exit code and
// hints back through a command's wrapping. Data Center answers 401 for a missing
// permission too: the hint must still name the permission.
func TestExplainDataCenter(t *testing.T) {
	srv := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	d := srv.DataCenter()
	server := d.ServerURL()
	readTok, err := d.AddPersonalToken(bbapitest.DCDefaultUser, bbapitest.PermRead, bbapitest.PermRead)
	if err != nil {
		t.Fatal(err)
	}
	projTok, err := d.AddProjectToken(bbapitest.DCDefaultProject, bbapitest.PermAdmin)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := d.AddPersonalToken(bbapitest.DCDefaultUser, bbapitest.PermAdmin, bbapitest.PermAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ExpireToken(expired, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	repo := bbapitest.DefaultRepos[0]
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test"

	for _, tc := range []struct {
		name  string
		token string
		call  func(context.Context, *dc.Client) error
		code  int
		hints []string // each must appear
		not   []string // none may appear
	}{
		{"repo access keys without REPO_ADMIN", readTok, func(ctx context.Context, c *dc.Client) error {
			_, _, err := c.RepoKeys(bbapitest.DCDefaultProject, repo).Add(ctx, dc.AddAccessKeyOptions{Text: key, Permission: dc.RepoRead})
			return err
		}, errkind.ExitAuth, []string{"REPO_ADMIN", "answers 401", "auth login --server " + server}, []string{"wrong, has expired"}},
		{"project access keys without PROJECT_ADMIN", readTok, func(ctx context.Context, c *dc.Client) error {
			_, _, err := c.ProjectKeys(bbapitest.DCDefaultProject).Add(ctx, dc.AddAccessKeyOptions{Text: key, Permission: dc.ProjectRead})
			return err
		}, errkind.ExitAuth, []string{"PROJECT_ADMIN"}, []string{"wrong, has expired"}},
		{"user keys with a project token", projTok, func(ctx context.Context, c *dc.Client) error {
			_, _, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: key, Label: "bbkey:x:2026-12-06"})
			return err
		}, errkind.ExitAuth, []string{"personal HTTP access token (LICENSED_USER)"}, []string{"wrong, has expired"}},
		{"expired token", expired, func(ctx context.Context, c *dc.Client) error {
			_, _, err := c.Users.Current(ctx)
			return err
		}, errkind.ExitAuth, []string{"refused the HTTP access token", "auth login --server " + server, "BITBUCKET_SERVER_TOKEN"}, []string{"REPO_ADMIN"}},
		{"wrong token", "not-a-token", func(ctx context.Context, c *dc.Client) error {
			_, err := first(c.SSHKeys.List(ctx))
			return err
		}, errkind.ExitAuth, []string{"refused the HTTP access token"}, nil},
		{"no such repository", d.DefaultToken(), func(ctx context.Context, c *dc.Client) error {
			_, err := first(c.RepoKeys(bbapitest.DCDefaultProject, "nope").List(ctx))
			return err
		}, errkind.ExitFailure, []string{"check the project key, repository slug or key id"}, nil},
		{"no such key", d.DefaultToken(), func(ctx context.Context, c *dc.Client) error {
			_, err := c.SSHKeys.Delete(ctx, 987654)
			return err
		}, errkind.ExitFailure, []string{"404"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dc.NewClient(server, dc.Token{Token: tc.token}, bbapi.WithMaxWait(0))
			if err != nil {
				t.Fatal(err)
			}
			err = tc.call(t.Context(), c)
			if err == nil {
				t.Fatal("no error")
			}
			err = fmt.Errorf("command: %w", err)
			if got := ExitCode(err); got != tc.code {
				t.Errorf("ExitCode = %d, want %d (%v)", got, tc.code, err)
			}
			h := strings.Join(Hints(err), "\n")
			for _, want := range tc.hints {
				if !strings.Contains(h+"\n"+err.Error(), want) {
					t.Errorf("hints lack %q:\n%s\n(error: %v)", want, h, err)
				}
			}
			for _, bad := range tc.not {
				if strings.Contains(h, bad) {
					t.Errorf("hints say %q:\n%s", bad, h)
				}
			}
			if strings.Contains(h+err.Error(), tc.token) && len(tc.token) > 8 {
				t.Error("the token is in the error or its hints")
			}
		})
	}
}

// A rate limit that outlasts --max-wait is exit 3 with a hint to re-run or wait longer.
func TestExplainDataCenterRateLimit(t *testing.T) {
	srv := bbapitest.Start(t, bbapitest.WithDataCenter())
	d := srv.DataCenter()
	d.SetRateLimit(1, 0.001)
	c, err := dc.NewClient(d.ServerURL(), dc.Token{Token: d.DefaultToken()}, bbapi.WithMaxWait(0))
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for range 3 {
		if _, last = first(c.SSHKeys.List(t.Context())); last != nil {
			break
		}
	}
	if !dc.IsRateLimited(last) {
		t.Fatalf("not rate limited: %v", last)
	}
	err = fmt.Errorf("listing: %w", last)
	if got := ExitCode(err); got != errkind.ExitPartial {
		t.Errorf("ExitCode = %d, want 3 (%v)", got, err)
	}
	if h := strings.Join(Hints(err), "\n"); !strings.Contains(h, "--max-wait") || !strings.Contains(h, d.ServerURL()) {
		t.Errorf("hints: %s", h)
	}
}

func first[T any](seq func(func(T, error) bool)) (T, error) {
	var zero T
	for v, err := range seq {
		return v, err
	}
	return zero, nil
}
