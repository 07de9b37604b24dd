// Command accesskey measures `bbkey add-access-key` on a workspace of 500 repositories
// against the emulator with 100 ms of latency on every request, side by side with the
// approach it replaces: list the repositories, then for each one GET its access keys and
// POST the key, one request at a time.
//
//	go run ./bench/accesskey            # both (the sequential run takes about 100 s)
//	go run ./bench/accesskey -naive=false
//	go run ./bench/accesskey -datacenter  # the same against a Bitbucket Data Center
//
// With -datacenter the emulator is a Data Center whose project OPS holds the
// repositories; bbkey runs `add-access-key --all` (every repository the token
// administers, listed with start/limit paging) and the sequential client lists them the
// same way, then GETs each one's access keys and POSTs the key.
//
// bbkey runs with --concurrency 8. Bitbucket's rate limit is off in both runs so that
// wall time and call counts compare like for like; the table says which approach fits
// Bitbucket's 1,000 calls an hour.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
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
	"github.com/bbkey/bbkey/bbapi/dc"
)

const budget = 1000

func main() {
	var (
		repos       = flag.Int("repos", 500, "repositories in the workspace")
		latency     = flag.Duration("latency", 100*time.Millisecond, "latency of every request")
		concurrency = flag.Int("concurrency", 8, "bbkey --concurrency")
		naive       = flag.Bool("naive", true, "also run the sequential list-then-GET-and-POST client")
		bin         = flag.String("bbkey", "", "bbkey binary (default: build it)")
		datacenter  = flag.Bool("datacenter", false, "a Bitbucket Data Center instead of Cloud")
	)
	flag.Parse()
	if err := run(*repos, *latency, *concurrency, *naive, *bin, *datacenter); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name  string
	wall  time.Duration
	calls int
}

func run(repos int, latency time.Duration, concurrency int, naive bool, bin string, datacenter bool) error {
	tmp, err := os.MkdirTemp("", "bbkey-bench-")
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

	where, runB, runN := "", runBbkey, runNaive
	if datacenter {
		where, runB, runN = " on Bitbucket Data Center", runBbkeyDC, runNaiveDC
	}
	fmt.Printf("add-access-key to %d repositories%s, %s latency per request (emulator on loopback)\n\n", repos, where, latency)
	var results []result
	r, err := runB(tmp, bin, repos, latency, concurrency)
	if err != nil {
		return err
	}
	results = append(results, r)
	if naive {
		r, err := runN(repos, latency)
		if err != nil {
			return err
		}
		results = append(results, r)
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "approach\twall time\tcalls\tfits 1,000 calls/h\t")
	for _, r := range results {
		fits := "yes"
		if r.calls > budget {
			fits = "no"
		}
		fmt.Fprintf(tw, "%s\t%.1fs\t%d\t%s\t\n", r.name, r.wall.Seconds(), r.calls, fits)
	}
	if len(results) == 2 {
		fmt.Fprintf(tw, "sequential / bbkey\t%.1fx\t%.2fx\t\t\n", results[1].wall.Seconds()/results[0].wall.Seconds(), float64(results[1].calls)/float64(results[0].calls))
	}
	return tw.Flush()
}

// newEmulator starts an emulator whose workspace holds n repositories, with latency on
// every request and no rate limit.
func newEmulator(n int, latency time.Duration) (*bbapitest.Server, error) {
	emu, err := bbapitest.NewServer()
	if err != nil {
		return nil, err
	}
	for i := len(bbapitest.DefaultRepos); i < n; i++ {
		if err := emu.AddRepo(bbapitest.DefaultWorkspace, fmt.Sprintf("r%03d", i), bbapitest.DefaultProject); err != nil {
			emu.Close()
			return nil, err
		}
	}
	emu.SetRateLimit(0)
	emu.SetLatency(latency)
	return emu, nil
}

func runBbkey(tmp, bin string, n int, latency time.Duration, concurrency int) (result, error) {
	emu, err := newEmulator(n, latency)
	if err != nil {
		return result{}, err
	}
	defer emu.Close()
	wall, err := runBinary(tmp, bin, emu, "--workspace", bbapitest.DefaultWorkspace, "--all", "--concurrency", fmt.Sprint(concurrency))
	if err != nil {
		return result{}, err
	}
	// Every repository must end with the key exactly once, or the timing means nothing.
	for i := range n {
		slug := fmt.Sprintf("r%03d", i)
		if i < len(bbapitest.DefaultRepos) {
			slug = bbapitest.DefaultRepos[i]
		}
		if k := emu.RepoDeployKeys(bbapitest.DefaultWorkspace, slug); len(k) != 1 {
			return result{}, fmt.Errorf("bbkey left %s with %d keys", slug, len(k))
		}
	}
	return result{name: fmt.Sprintf("bbkey add-access-key --concurrency %d", concurrency), wall: wall, calls: len(emu.Requests())}, nil
}

// runBinary runs `bbkey add-access-key` with args in a fresh home against emu, and
// returns its wall time, process start to exit.
func runBinary(tmp, bin string, emu *bbapitest.Server, args ...string) (time.Duration, error) {
	home, err := os.MkdirTemp(tmp, "home-")
	if err != nil {
		return 0, err
	}
	for _, d := range []string{".ssh", ".config"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			return 0, err
		}
	}
	pass := filepath.Join(home, "pass")
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		return 0, err
	}
	cmd := exec.Command(bin, append([]string{"add-access-key", "--name", "bench", "--passphrase-file", pass, "--json"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"BBKEY_SSH_DIR=" + filepath.Join(home, ".ssh"), "NO_COLOR=1"}, emu.Env()...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("bbkey: %w\n%s", err, stderr.String())
	}
	return wall, nil
}

// naiveKey is the sequential clients' public key: its authorized_keys line and fingerprint.
func naiveKey() (line, fp string, err error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " naive", ssh.FingerprintSHA256(sshPub), nil
}

// runNaive is the client bbkey replaces: list, then GET and POST for every repository,
// sequentially.
func runNaive(n int, latency time.Duration) (result, error) {
	emu, err := newEmulator(n, latency)
	if err != nil {
		return result{}, err
	}
	defer emu.Close()
	line, fp, err := naiveKey()
	if err != nil {
		return result{}, err
	}
	c, err := bbapi.NewClient(emu.APIURL(), &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: emu.DefaultAPIToken()})
	if err != nil {
		return result{}, err
	}
	ctx := context.Background()
	start := time.Now()
	var slugs []string
	for r, err := range c.Repositories.ListWorkspace(ctx, bbapitest.DefaultWorkspace, &bbapi.ListRepositoriesOptions{Role: "admin"}) {
		if err != nil {
			return result{}, err
		}
		slugs = append(slugs, r.RepoSlug())
	}
	for _, slug := range slugs {
		found, err := c.RepoKeys(bbapitest.DefaultWorkspace, slug).FindByFingerprint(ctx, fp)
		if err != nil {
			return result{}, err
		}
		if found != nil {
			continue
		}
		if _, _, err := c.RepoKeys(bbapitest.DefaultWorkspace, slug).Add(ctx, bbapi.AddDeployKeyOptions{Key: line, Label: "naive"}); err != nil {
			return result{}, err
		}
	}
	return result{name: "sequential: list, then GET + POST per repository", wall: time.Since(start), calls: len(emu.Requests())}, nil
}

// newDCEmulator starts a Data Center emulator where the token administers n
// repositories: the seeded personal one (~ADA/notes) and n-1 in project OPS (the seeded
// ones first), with latency on every request and no rate limit. It returns the
// repositories as PROJ/slug.
func newDCEmulator(n int, latency time.Duration) (*bbapitest.Server, []string, error) {
	emu, err := bbapitest.NewServer(bbapitest.WithDataCenter())
	if err != nil {
		return nil, nil, err
	}
	d := emu.DataCenter()
	refs := []string{"~" + strings.ToUpper(bbapitest.DCDefaultUser) + "/" + bbapitest.DCDefaultPersonalRepo}
	for _, slug := range bbapitest.DefaultRepos {
		refs = append(refs, bbapitest.DCDefaultProject+"/"+slug)
	}
	for i := len(refs); i < n; i++ {
		slug := fmt.Sprintf("r%03d", i)
		if err := d.AddRepo(bbapitest.DCDefaultProject, slug); err != nil {
			emu.Close()
			return nil, nil, err
		}
		refs = append(refs, bbapitest.DCDefaultProject+"/"+slug)
	}
	slugs := refs
	d.SetRateLimit(0, 0)
	emu.SetLatency(latency)
	return emu, slugs, nil
}

// checkDC makes sure every repository holds one access key, read-only: the timing means
// nothing otherwise.
func checkDC(emu *bbapitest.Server, refs []string) error {
	for _, ref := range refs {
		proj, slug, _ := strings.Cut(ref, "/")
		k := emu.DataCenter().RepoAccessKeys(proj, slug)
		if len(k) != 1 || k[0].Permission != "REPO_READ" {
			return fmt.Errorf("%s ended with access keys %+v, want one REPO_READ", ref, k)
		}
	}
	return nil
}

func runBbkeyDC(tmp, bin string, n int, latency time.Duration, concurrency int) (result, error) {
	emu, slugs, err := newDCEmulator(n, latency)
	if err != nil {
		return result{}, err
	}
	defer emu.Close()
	wall, err := runBinary(tmp, bin, emu, "--all", "--concurrency", fmt.Sprint(concurrency))
	if err != nil {
		return result{}, err
	}
	if err := checkDC(emu, slugs); err != nil {
		return result{}, err
	}
	return result{name: fmt.Sprintf("bbkey add-access-key --all --concurrency %d", concurrency), wall: wall, calls: len(emu.Requests())}, nil
}

// runNaiveDC is the sequential client on Data Center: list the repositories the token
// administers, then GET each one's access keys and POST the key where it is missing.
func runNaiveDC(n int, latency time.Duration) (result, error) {
	emu, slugs, err := newDCEmulator(n, latency)
	if err != nil {
		return result{}, err
	}
	defer emu.Close()
	line, fp, err := naiveKey()
	if err != nil {
		return result{}, err
	}
	c, err := dc.NewClient(emu.DataCenter().ServerURL(), dc.Token{Token: emu.DataCenter().DefaultToken()})
	if err != nil {
		return result{}, err
	}
	ctx := context.Background()
	start := time.Now()
	var repos []*dc.Repository
	for r, err := range c.Repositories.List(ctx, dc.ListRepositoriesOptions{Permission: dc.RepoAdmin}) {
		if err != nil {
			return result{}, err
		}
		repos = append(repos, r)
	}
	for _, r := range repos {
		found, err := c.RepoKeys(r.ProjectKey(), r.Slug).FindByFingerprint(ctx, fp)
		if err != nil {
			return result{}, err
		}
		if found != nil {
			continue
		}
		if _, _, err := c.RepoKeys(r.ProjectKey(), r.Slug).Add(ctx, dc.AddAccessKeyOptions{Text: line, Label: "naive"}); err != nil {
			return result{}, err
		}
	}
	wall := time.Since(start)
	if err := checkDC(emu, slugs); err != nil {
		return result{}, err
	}
	return result{name: "sequential: list, then GET + POST per repository", wall: wall, calls: len(emu.Requests())}, nil
}
