// Command bench measures bbkey against its baselines and targets in one run and prints one
// table: measurement, bbkey, baseline, ratio, target, pass/fail. Machines are noisy, so each
// comparison runs both sides in the same run, one after the other, and the ratio is what
// to read; absolute numbers are for this machine only. These are measurements, not tests:
// nothing here fails a build.
//
//	go run ./bench            # print the table
//	go run ./bench -write     # and replace bench/RESULTS.md with it
//	go run ./bench -quick     # smaller sizes, a smoke run of the runner itself
//
// It builds bbkey once, then runs: the keys benchmark (generate + encrypt + write against
// ssh-keygen -a 16), `bbkey setup` against the in-process emulator at 0 and 100 ms of
// latency (beside a bbkey built with -tags bbkey_bench_sequential), the add-access-key program in bench/accesskey, the audit program in
// bench/audit, bench/remote/bench.sh, and `bbkey --version` start-up time and binary
// sizes. A measurement whose program is missing
// or fails prints a "not available" row with the reason, never a made-up number.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	write, quick bool
	only         string
	root         string // the repository
	bin          string // the built bbkey
	work         string // throw-away directory for homes and trees
	log          io.Writer
	kg           *keygenResult // the keys benchmark, once per run
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.BoolVar(&c.write, "write", false, "replace bench/RESULTS.md with this run's table")
	fs.BoolVar(&c.quick, "quick", false, "small sizes (a smoke run of the runner, not a measurement)")
	fs.StringVar(&c.only, "only", "", "run only the measurements whose name contains `WORD` (keygen, setup, access, audit, remote, startup, size)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c.log = stderr
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	c.root = root
	c.work, err = os.MkdirTemp("", "bbkey-bench")
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(c.work)
	c.bin = filepath.Join(c.work, "bbkey")
	if runtime.GOOS == "windows" {
		c.bin += ".exe"
	}
	start := time.Now()
	c.logf("building bbkey")
	if out, err := c.command(context.Background(), c.root, nil, "go", "build", "-o", c.bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(stderr, "bench: building bbkey: %v\n%s", err, out)
		return 1
	}

	var rows []Row
	for _, m := range measurements() {
		if c.only != "" && !strings.Contains(m.name, c.only) {
			continue
		}
		c.logf("measuring %s", m.name)
		t0 := time.Now()
		rows = append(rows, m.run(&c)...)
		c.logf("  %s took %s", m.name, time.Since(t0).Round(100*time.Millisecond))
	}
	total := time.Since(start)
	m := machine(c.root)
	PrintTable(stdout, rows)
	fmt.Fprintf(stdout, "\n%s; whole run %s\n", m, total.Round(time.Second))
	if c.write {
		if c.quick {
			fmt.Fprintln(stderr, "bench: not writing RESULTS.md from a -quick run")
			return 2
		}
		path := filepath.Join(c.root, "bench", "RESULTS.md")
		if err := os.WriteFile(path, RenderResults(rows, m, total), 0o644); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		c.logf("wrote %s", path)
	}
	return 0
}

type measurement struct {
	name string
	run  func(*config) []Row
}

func measurements() []measurement {
	return []measurement{
		{"keygen", measureKeygen},
		{"setup", measureSetup},
		{"access", measureAccessKey},
		{"audit", measureAudit},
		{"remote", measureRemote},
		{"startup", measureStartup},
		{"size", measureSize},
	}
}

func (c *config) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "bench: "+format+"\n", args...)
}

// command runs name in dir with the caller's environment plus env.
func (c *config) command(ctx context.Context, dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// repoRoot finds the module root from the working directory (go run ./bench runs there).
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run from inside the bbkey module")
	}
	return filepath.Dir(mod), nil
}

// Machine describes where the numbers come from.
type Machine struct {
	CPUs      int
	Arch      string
	GoVersion string
	OS        string
	Date      time.Time
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (nproc), %s, %s, %s, %s", m.CPUs, m.Arch, m.OS, m.GoVersion, m.Date.Format("2006-01-02"))
}

func machine(root string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Arch: runtime.GOARCH, OS: runtime.GOOS, GoVersion: runtime.Version(), Date: time.Now()}
	if out, err := exec.Command("nproc").Output(); err == nil {
		fmt.Sscan(string(out), &m.CPUs)
	}
	if out, err := exec.Command("uname", "-m").Output(); err == nil {
		m.Arch = strings.TrimSpace(string(out))
	}
	cmd := exec.Command("go", "env", "GOVERSION")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	return m
}
