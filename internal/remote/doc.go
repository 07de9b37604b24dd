// Package remote moves git remotes of Bitbucket from HTTPS with stored secrets, or SSH to
// the retired bitbucket.org host, to SSH on the target host (Target for Cloud,
// DataCenterTarget for a Data Center server), and scrubs the secrets git left behind.
//
// Find walks a tree for clones; PlanRepos and PlanDir read each repository's config and
// list the changes; Apply writes them and reads them back; Scrub cleans credential files
// and helpers. Every config read goes through the git binary, so includes, worktrees and
// submodules behave as git defines them. Secrets never reach git's argv: values are
// matched with patterns that leave the secret out.
package remote
