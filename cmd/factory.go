package cmd

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/settings"
)

// NewFactory builds the production Factory.
func NewFactory(version string, ios *iostreams.IOStreams) *cmdutil.Factory {
	var f *cmdutil.Factory
	f = &cmdutil.Factory{
		AppVersion: version,
		IOStreams:  ios,
		Globals:    &cmdutil.GlobalOptions{},
		LookupEnv:  os.LookupEnv,
		Now:        time.Now,
		Git:        gitrun.Exec{},
		Prompter:   func() prompt.Prompter { return prompt.Terminal{} },
		HTTPClient: sync.OnceValue(func() *http.Client {
			// --max-wait is the longest bbkey waits: a server that never answers must not
			// hold one request longer than that either.
			timeout := 60 * time.Second
			if mw := f.Globals.MaxWait; mw > 0 && mw < timeout {
				timeout = mw
			}
			return &http.Client{Timeout: timeout}
		}),
		Hostname: func() (string, error) {
			h, err := os.Hostname()
			if err != nil {
				return "", err
			}
			short, _, _ := strings.Cut(h, ".")
			return strings.ToLower(short), nil
		},
	}
	f.Agent = func() (agent.Agent, error) {
		// Never return Connect's nil *Client inside the interface: a caller's `ag == nil`
		// would not see it, and the first method call would panic.
		c, err := agent.Connect(f.LookupEnv)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	f.CredStore = func(ctx context.Context, allowInsecure bool) (credstore.Store, error) {
		p, err := f.Paths()
		if err != nil {
			return nil, err
		}
		return credstore.Open(ctx, credstore.Options{ConfigDir: p.ConfigDir, AllowInsecure: allowInsecure, LookupEnv: f.LookupEnv})
	}
	f.Paths = sync.OnceValues(func() (settings.Paths, error) {
		return settings.SystemPaths(f.LookupEnv)
	})
	return f
}
