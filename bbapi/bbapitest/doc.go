// Package bbapitest is a stateful, in-memory Bitbucket Cloud for tests and for trying
// bbkey by hand: the REST endpoints bbkey uses and the OAuth token endpoint over real HTTP,
// and git over a real SSH server that runs the real git-upload-pack and git-receive-pack on
// bare repositories it keeps. Both listen on 127.0.0.1.
//
//	srv := bbapitest.Start(t)                     // seeded: Ada, workspace acme, project OPS,
//	                                              // repositories api, web, infra
//	cmd.Env = append(os.Environ(), srv.Env()...) // points bbkey at it
//
// What it does as Bitbucket does (API.md): status codes (201 for an account key, 200 for
// an access key, 204 on delete), the error envelope and texts, pagination with a default
// pagelen of 10 and absolute `next` links, the duplicate rules (a key on one account only;
// an access key reusable across repositories and projects but never also an account key),
// API-token, OAuth and access-token authentication with their scopes and 403 texts, a
// rolling-hour request budget on /2.0/repositories/* answered with a plain-text 429 without
// Retry-After, and on SSH the greetings and refusals of Bitbucket's `conq` handler.
//
// Faults for client tests: SetLatency, FailNext, FailNth, ResetConnections, Hang, the Body*
// bodies; a replaceable clock (SetClock); inspection (UserKeys, RepoDeployKeys,
// ProjectDeployKeys, Requests, RepoDir); DenySSH to make a registered key fail its proof;
// SeedAccessKey for access keys with a history (added long ago, last used on a given day),
// and AddRepo is cheap enough to seed workspaces of a thousand repositories.
// PageLenClient is an HTTP client for bbapi that asks for short pages, so a test walks many.
// WithSpecValidation checks every request and JSON response against Atlassian's OpenAPI
// spec (testdata/openapi-cloud-keys.json, plus the project listing copied from the full
// spec into testdata/openapi-cloud-projects.json), with three documented corrections where
// the spec contradicts the live API (see correctSpec). Two answers differ from the spec on
// purpose, because the live API sends them so: the ssh entry of a repository's
// links.clone is scp-like (git@ssh.bitbucket.org:WS/REPO.git, not the URI the spec's
// format says; clients record the live answer in that form, e.g. the ulaval and
// test-owner fixtures found in public code), and a 403 for a missing scope has an object
// detail {"required": […], "granted": […]} where the spec shows a string (quoted from the
// live API in gildas/bitbucket-cli#56); bbapi reads both forms of each.
//
// Where it is simpler than the real service:
//   - Only the endpoints bbkey uses exist; anything else is a plain 404 from net/http, and
//     a wrong method a plain 405.
//   - Every request must be authenticated (the real API lets anonymous callers read public
//     resources; every repository here is private). No credential gets a JSON 401.
//   - Permissions are per workspace member (read, write, admin), with per-repository
//     overrides; no groups, no branch restrictions, no IP allow-lists, no 2FA.
//   - Project administration is workspace administration.
//   - The filter language supports comparisons of name, slug, full_name, uuid, project.key
//     and project.name with =, !=, ~ and !~ joined by AND; anything else is a 400. sort
//     accepts name, slug, full_name, created_on and updated_on.
//   - pagelen above 100 is clamped to 100 rather than refused.
//   - Unconfirmed behaviour is chosen, not known: a duplicate account key is a 400; an
//     `expires_on` in the body is ignored (only the query parameter counts); the messages of
//     404s and of permission 403s are this package's own; a key added as an access key
//     cannot then be added to an account ("Someone has already added that SSH key.").
//   - Deleted keys can be re-added at once unless WithDeletedKeyCooldown is given.
//   - Access tokens get Bitbucket's 403 "This API is not accessible by this authentication
//     mechanism" on adding, updating and deleting a repository's access keys (the spec's
//     access-token section lists those three as inaccessible for access tokens) and on
//     account keys; they may list a repository's access keys and manage a project's,
//     unless WithAccessTokensRefusedOnDeployKeys closes every access-key endpoint to them
//     (as DrFaust92/terraform-provider-bitbucket#221 saw on one workspace).
//   - The rate limit counts per credential (not per user across credentials) and every
//     credential gets DefaultRateLimit; unauthenticated traffic has no separate budget.
//   - SSH: one ed25519 host key per run; user git only; no port 443 alternative; a push
//     needs write permission, nothing else (no branch permissions, no LFS).
//
// Data Center mode (WithDataCenter, then Server.DataCenter to seed and inspect) is a
// Bitbucket Data Center instead: the REST API under /rest with the spec's `latest` paths
// (and their `1.0` twins), seeded with user ada, project OPS with DefaultRepos and the
// personal repository ~ADA/notes; personal, project and repository HTTP access tokens
// (Bearer) whose permissions cap their user's; the {"errors": [{context, message,
// exceptionName}]} shape, 401 for a missing permission, 409 for a duplicate key, a
// per-user token bucket answering 429 with Retry-After; `DELETE /rest/ssh/latest/keys`
// deleting every key of the user, as the real server does; GET /rest/ssh/latest/settings
// reporting the SSH server's real host-key fingerprint; and git over SSH at
// ssh://git@127.0.0.1:PORT/proj/repo.git (~user/repo.git for personal repositories) where
// REPO_READ and PROJECT_READ access keys clone and REPO_WRITE and PROJECT_WRITE ones also
// push. WithSpecValidation then checks against the Data Center 9.2 spec
// (testdata/openapi-datacenter-keys.json, two documented corrections: see correctDCSpec).
// Chosen where the live behaviour is unknown: an access key added again to the same place
// gets the new permission (201); a user's key cannot become an access key (409); a
// repository or project the credential cannot read is a 404; a maximum expiry
// (SetMaxExpiryDays) fills in a missing expiryDays and refuses a longer one (400).
package bbapitest
