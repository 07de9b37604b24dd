// Command audit measures `bbkey audit` on a workspace of 1,000 repositories (one project)
// against the emulator with 100 ms of latency on every request, side by side with the
// listing it replaces: the repositories, the projects, then each one's access keys, one
// request at a time.
//
//	go run ./bench/audit               # both (the sequential run takes about 100 s)
//	go run ./bench/audit -naive=false
//
// bbkey runs with its default --concurrency and an empty cache. Bitbucket's rate limit is
// off in both runs so that wall time and call counts compare like for like; the table
// counts the calls to /2.0/repositories/* (the group Bitbucket limits to about 1,000 an
// hour) apart from the project calls (/2.0/workspaces/…), which are not in it.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

func main() {
	var (
		repos   = flag.Int("repos", 1000, "repositories in the workspace")
		latency = flag.Duration("latency", 100*time.Millisecond, "latency of every request")
		naive   = flag.Bool("naive", true, "also run the sequential listing")
		bin     = flag.String("bbkey", "", "bbkey binary (default: build it)")
	)
	flag.Parse()
	if err := run(*repos, *latency, *naive, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name                string
	wall                time.Duration
	calls, repoCalls    int
	placements, targets int
}

func run(repos int, latency time.Duration, naive bool, bin string) error {
	tmp, err := os.MkdirTemp("", "bbkey-bench-audit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if bin == "" {
		bin = filepath.Join(tmp, "bbkey")
		build := exec.Command("go", "build", "-o", bin, "github.com/bbkey/bbkey")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building bbkey: %w", err)
		}
	}
	fmt.Printf("audit of %d repositories and 1 project, %s latency per request (emulator on loopback)\n\n", repos, latency)
	var results []result
	r, err := runBbkey(tmp, bin, repos, latency)
	if err != nil {
		return err
	}
	results = append(results, r)
	if naive {
		r, err := runNaive(repos, latency)
		if err != nil {
			return err
		}
		if r.placements != results[0].placements || r.targets != results[0].targets {
			return fmt.Errorf("the two listings disagree: bbkey %d keys on %d targets, sequential %d on %d", results[0].placements, results[0].targets, r.placements, r.targets)
		}
		results = append(results, r)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "approach\twall time\tcalls\t/2.0/repositories calls\tplacements\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.1fs\t%d\t%d\t%d\t\n", r.name, r.wall.Seconds(), r.calls, r.repoCalls, r.placements)
	}
	if len(results) == 2 {
		fmt.Fprintf(tw, "sequential / bbkey\t%.1fx\t%.2fx\t\t\t\n", results[1].wall.Seconds()/results[0].wall.Seconds(), float64(results[1].calls)/float64(results[0].calls))
	}
	return tw.Flush()
}

// newEmulator starts an emulator whose workspace holds n repositories in project OPS,
// every tenth with a foreign key and all with one bbkey key, with latency on every
// request and no rate limit.
func newEmulator(n int, latency time.Duration) (*bbapitest.Server, error) {
	emu, err := bbapitest.NewServer()
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*bbapitest.Server, error) { emu.Close(); return nil, err }
	managed, err := newKey("ci@build")
	if err != nil {
		return fail(err)
	}
	foreign, err := newKey("jenkins@old")
	if err != nil {
		return fail(err)
	}
	for i := range n {
		slug := fmt.Sprintf("r%04d", i)
		if i < len(bbapitest.DefaultRepos) {
			slug = bbapitest.DefaultRepos[i]
		} else if err := emu.AddRepo(bbapitest.DefaultWorkspace, slug, bbapitest.DefaultProject); err != nil {
			return fail(err)
		}
		if _, err := emu.SeedAccessKey(bbapitest.DeployKey{Workspace: bbapitest.DefaultWorkspace, RepoSlug: slug, Key: managed, Label: "bbkey:ci:2026-01-01:ttl=90d"}); err != nil {
			return fail(err)
		}
		if i%10 == 0 {
			if _, err := emu.SeedAccessKey(bbapitest.DeployKey{Workspace: bbapitest.DefaultWorkspace, RepoSlug: slug, Key: foreign, Label: "Jenkins"}); err != nil {
				return fail(err)
			}
		}
	}
	if _, err := emu.SeedAccessKey(bbapitest.DeployKey{Workspace: bbapitest.DefaultWorkspace, ProjectKey: bbapitest.DefaultProject, Key: foreign, Label: "Jenkins"}); err != nil {
		return fail(err)
	}
	emu.SetRateLimit(0)
	emu.SetLatency(latency)
	return emu, nil
}

func newKey(comment string) (string, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + comment, nil
}

func count(emu *bbapitest.Server) (calls, repoCalls int) {
	for _, r := range emu.Requests() {
		calls++
		if r.Repositories {
			repoCalls++
		}
	}
	return calls, repoCalls
}

func runBbkey(tmp, bin string, n int, latency time.Duration) (result, error) {
	emu, err := newEmulator(n, latency)
	if err != nil {
		return result{}, err
	}
	defer emu.Close()
	home := filepath.Join(tmp, "home")
	for _, d := range []string{".ssh", ".config", ".cache"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			return result{}, err
		}
	}
	cmd := exec.Command(bin, "audit", "--workspace", bbapitest.DefaultWorkspace, "--json")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "BBKEY_SSH_DIR=" + filepath.Join(home, ".ssh"), "NO_COLOR=1"}, emu.Env()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 6) {
		return result{}, fmt.Errorf("bbkey: %w\n%s", err, stderr.String())
	}
	// The report must be complete and hold every key, or the timing means nothing.
	var doc struct {
		Complete     bool `json:"complete"`
		Repositories int  `json:"repositories"`
		Projects     int  `json:"projects"`
		Keys         []struct {
			Placements []json.RawMessage `json:"placements"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		return result{}, fmt.Errorf("bbkey --json: %w", err)
	}
	placements := 0
	for _, k := range doc.Keys {
		placements += len(k.Placements)
	}
	if !doc.Complete || doc.Repositories != n || doc.Projects != 1 {
		return result{}, fmt.Errorf("bbkey audit incomplete: %d repositories, %d projects\n%s", doc.Repositories, doc.Projects, stderr.String())
	}
	calls, repoCalls := count(emu)
	return result{name: "bbkey audit (--concurrency 10)", wall: wall, calls: calls, repoCalls: repoCalls, placements: placements, targets: doc.Repositories + doc.Projects}, nil
}

// runNaive lists what the audit lists, one request at a time.
func runNaive(n int, latency time.Duration) (result, error) {
	emu, err := newEmulator(n, latency)
	if err != nil {
		return result{}, err
	}
	defer emu.Close()
	c, err := bbapi.NewClient(emu.APIURL(), &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: emu.DefaultAPIToken()})
	if err != nil {
		return result{}, err
	}
	ctx := context.Background()
	ws := bbapitest.DefaultWorkspace
	start := time.Now()
	var slugs, projects []string
	for r, err := range c.Repositories.ListWorkspace(ctx, ws, &bbapi.ListRepositoriesOptions{Role: "admin"}) {
		if err != nil {
			return result{}, err
		}
		slugs = append(slugs, r.RepoSlug())
	}
	for p, err := range c.Projects.ListWorkspace(ctx, ws) {
		if err != nil {
			return result{}, err
		}
		projects = append(projects, p.Key)
	}
	placements := 0
	for _, slug := range slugs {
		for _, err := range c.RepoKeys(ws, slug).List(ctx) {
			if err != nil {
				return result{}, err
			}
			placements++
		}
	}
	for _, p := range projects {
		for _, err := range c.ProjectKeys(ws, p).List(ctx) {
			if err != nil {
				return result{}, err
			}
			placements++
		}
	}
	wall := time.Since(start)
	calls, repoCalls := count(emu)
	return result{name: "sequential: list, then each one's keys", wall: wall, calls: calls, repoCalls: repoCalls, placements: placements, targets: len(slugs) + len(projects)}, nil
}
