// Package remote moves git remotes of Bitbucket Cloud repositories from HTTPS with stored
// secrets, or SSH to the retired bitbucket.org SSH host, to git@<ssh-host>:WS/REPO.git
// (and back to plain HTTPS with --to https), and scrubs the secrets git left behind.
//
// The engine has four parts: Target.Rewrite decides what one URL becomes; Find walks a
// tree for clones (work trees, bare repositories, worktrees, submodules); PlanRepo and
// PlanAll read each repository's config through git and list the changes; Apply writes
// them through git and reads them back. DataCenterTarget.Rewrite is the same decision
// for the remotes of one Bitbucket Data Center server. Scrub removes Bitbucket entries from credential
// files and the credential helper.
//
// Every read and write of a repository's configuration goes through the git binary, so
// includes, worktrees and submodules behave exactly as git defines them. Secrets never
// reach git's argv: values are matched with patterns that leave the secret out.
package remote
