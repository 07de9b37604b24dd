package remote

// Rewriter decides what happens to remote URLs: Target for Bitbucket Cloud,
// DataCenterTarget for one Data Center server. Plan, PlanDir, PlanRepos and Apply work
// with either.
type Rewriter interface {
	// Rewrite decides what happens to one remote URL.
	Rewrite(raw string) Result
	// RewriteBase decides what happens to the base of a url.<base>.insteadOf entry.
	RewriteBase(raw string) Result
	// Host is the host name remotes are written with, for messages.
	Host() string
	// URL is the form a repository's remote takes: Cloud's workspace and repository,
	// or a Data Center project key and repository slug.
	URL(owner, repo string) string
	// Validate checks that the target can be written into a remote.
	Validate() error
}

var (
	_ Rewriter = Target{}
	_ Rewriter = DataCenterTarget{}
)
