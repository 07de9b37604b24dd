package remote

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/gitrun"
)

// Repo is a git repository on disk.
type Repo struct {
	// Dir is the work tree, or the repository itself when bare: what the user is shown.
	Dir string
	// GitDir is the common git directory, whose config holds the remotes (shared by all
	// worktrees of the repository).
	GitDir string
	Bare   bool
}

// ConfigFile is the repository's own config file.
func (r Repo) ConfigFile() string { return filepath.Join(r.GitDir, "config") }

// Field is the kind of configuration value a Change rewrites.
type Field string

// Fields bbkey rewrites.
const (
	FieldURL       Field = "url"       // remote.<name>.url
	FieldPushURL   Field = "pushurl"   // remote.<name>.pushurl
	FieldSubmodule Field = "submodule" // submodule.<name>.url
	FieldInsteadOf Field = "insteadOf" // the base of url.<base>.insteadOf / pushInsteadOf
)

// Change is one configuration value to rewrite. Its exported fields never hold a secret.
type Change struct {
	// File is the config file that holds the value (the repository's config, or a file
	// it includes).
	File  string
	Field Field
	// Name is the remote or submodule name; "" for insteadOf.
	Name string
	// Old is the current value (the url base for insteadOf) with any secret masked.
	Old string
	New string
	// Secret is set when the old value carries credentials.
	Secret bool
	// Status and Reason say why a value in RepoPlan.Skipped is left alone.
	Status Status
	Reason string

	key string // the variable as git names it (for insteadOf: the section)
	old string // the current value, secret included: only ever compared, never shown
}

// Key is the variable as git names it, with any secret masked.
func (c Change) Key() string {
	if c.Field == FieldInsteadOf {
		return "url." + c.Old + ".insteadOf"
	}
	return c.key
}

// RepoPlan is what would change in one repository.
type RepoPlan struct {
	Repo    Repo
	Changes []Change
	Skipped []Change // Bitbucket values left alone (DataCenter, Unsupported)
	// Current counts Bitbucket values already in the target form.
	Current int
	// Err is set when reading (Plan…) or writing (Apply) the repository failed.
	Err error
	// Applied is set by Apply once every change is written and read back.
	Applied bool

	inRepo  bool // read by running git in the repository (includes, worktree config)
	here    bool // Repo is what git finds from Dir (Resolve): no --git-dir needed
	planned bool
	wrote   bool // Apply wrote every change (not yet read back)
}

// Plan is the set of repositories examined and what would change in each.
type Plan struct {
	Target Rewriter
	Repos  []*RepoPlan
}

// Changed returns the repositories with at least one change.
func (p *Plan) Changed() []*RepoPlan {
	var out []*RepoPlan
	for _, r := range p.Repos {
		if len(r.Changes) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// NumChanges counts the changes over all repositories.
func (p *Plan) NumChanges() int {
	n := 0
	for _, r := range p.Repos {
		n += len(r.Changes)
	}
	return n
}

// Resolve finds the repository that dir is in (a work tree or any directory below it, a
// bare repository, a worktree, or a git directory), as git sees it.
func Resolve(ctx context.Context, git gitrun.Runner, dir string) (Repo, error) {
	// --show-toplevel fails in a bare repository or a git directory after printing the
	// lines before it, so its error is only fatal when those are missing.
	out, err := git.Run(ctx, dir, "rev-parse", "--path-format=absolute", "--git-common-dir", "--is-bare-repository", "--show-toplevel")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 2 || lines[0] == "" {
		if err == nil {
			err = errors.New("unexpected output of git rev-parse")
		}
		return Repo{}, fmt.Errorf("%s is not in a git repository: %w", dir, err)
	}
	r := Repo{GitDir: filepath.Clean(lines[0]), Bare: lines[1] == "true"}
	switch {
	case r.Bare:
		r.Dir = r.GitDir
	case len(lines) >= 3 && err == nil:
		r.Dir = filepath.Clean(lines[2])
	default: // inside the git directory of a repository with a work tree
		r.Dir = filepath.Dir(r.GitDir)
	}
	return r, nil
}

// PlanDir plans the repository dir is in, reading its configuration by running git in it
// (includes and includeIf evaluated as git does). setup uses it for the repository it runs
// in.
func PlanDir(ctx context.Context, git gitrun.Runner, dir string, t Rewriter) (*Plan, error) {
	repo, err := Resolve(ctx, git, dir)
	if err != nil {
		return nil, err
	}
	rp := &RepoPlan{Repo: repo, inRepo: true, here: true}
	readBatch(ctx, git, []*RepoPlan{rp}, t)
	if rp.Err != nil {
		return nil, rp.Err
	}
	return &Plan{Target: t, Repos: []*RepoPlan{rp}}, nil
}

// PlanRepos plans many repositories concurrently. Configs are read in batches of one git
// process each; a repository whose config includes other files or has per-worktree
// configuration is read by running git in it instead. A repository that cannot be read
// gets Err and no changes.
func PlanRepos(ctx context.Context, git gitrun.Runner, repos []Repo, t Rewriter) *Plan {
	p := &Plan{Target: t, Repos: make([]*RepoPlan, len(repos))}
	for i, r := range repos {
		p.Repos[i] = &RepoPlan{Repo: r}
	}
	readPlans(ctx, git, p.Repos, t)
	return p
}

// readPlans (re)reads and plans rps in place.
func readPlans(ctx context.Context, git gitrun.Runner, rps []*RepoPlan, t Rewriter) {
	workers := runtime.NumCPU()
	size := min(max((len(rps)+workers-1)/workers, 16), 400)
	batches := slices.Collect(slices.Chunk(rps, size))
	for _, rp := range rps {
		rp.planned = false
	}
	bulk.Each(ctx, len(batches), workers, &bulk.Stopper{}, func(i int) {
		readBatch(ctx, git, batches[i], t)
	})
	for _, rp := range rps {
		if !rp.planned && rp.Err == nil {
			rp.Err = fmt.Errorf("reading the git config of %s: %w", rp.Repo.Dir, context.Cause(ctx))
		}
	}
}

func readBatch(ctx context.Context, git gitrun.Runner, batch []*RepoPlan, t Rewriter) {
	var files []string
	for _, rp := range batch {
		rp.Changes, rp.Skipped, rp.Current, rp.Err = nil, nil, 0, nil
		if !rp.inRepo {
			files = append(files, rp.Repo.ConfigFile())
		}
	}
	var byFile map[string][]entry
	if len(files) > 0 {
		// On an error (one bad config fails the batch) each repository is read on its own.
		byFile, _ = readConfigFiles(ctx, git, files)
	}
	for _, rp := range batch {
		es, ok := byFile[rp.Repo.ConfigFile()]
		if rp.inRepo || !ok || needsRepoRead(es) {
			rp.inRepo = true
			if rp.Err = ctx.Err(); rp.Err != nil {
				continue
			}
			gitDir := rp.Repo.GitDir
			if rp.here {
				gitDir = "" // a linked worktree's own config.worktree
			}
			if es, rp.Err = readRepoConfig(ctx, git, rp.Repo.Dir, gitDir); rp.Err != nil {
				continue
			}
		}
		planEntries(t, rp, es)
	}
}

// planEntries decides every Bitbucket value of one repository's configuration.
func planEntries(t Rewriter, rp *RepoPlan, es []entry) {
	rp.planned = true
	seen := map[[3]string]bool{}
	for _, e := range es {
		sec, sub, name := e.parts()
		c := Change{File: e.file, Name: sub, key: e.key, old: e.value}
		var res Result
		switch {
		case sub == "":
			continue
		case sec == "remote" && name == "url":
			c.Field, res = FieldURL, t.Rewrite(e.value)
		case sec == "remote" && name == "pushurl":
			c.Field, res = FieldPushURL, t.Rewrite(e.value)
		case sec == "submodule" && name == "url":
			c.Field, res = FieldSubmodule, t.Rewrite(e.value)
		case sec == "url" && (name == "insteadof" || name == "pushinsteadof"):
			// One rename of the section covers all its values.
			c.Field, res, c.Name, c.key, c.old = FieldInsteadOf, t.RewriteBase(sub), "", "url."+sub, sub
		default:
			continue
		}
		if k := [3]string{c.File, c.key, c.old}; !seen[k] {
			seen[k] = true
			c.Old, c.New, c.Secret, c.Status, c.Reason = Mask(c.old), res.New, res.Secret, res.Status, res.Reason
			switch res.Status {
			case NeedsRewrite:
				rp.Changes = append(rp.Changes, c)
			case Current:
				rp.Current++
			case DataCenter, Unsupported:
				rp.Skipped = append(rp.Skipped, c)
			}
		}
	}
}
