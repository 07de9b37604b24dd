package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseBenchMetrics(t *testing.T) {
	out := []byte(`goos: linux
goarch: amd64
pkg: github.com/bbkey/bbkey/keys
BenchmarkGenerateVsSSHKeygen-2   	      12	 512345678 ns/op	         0.8500 bbkey/ssh-keygen	       210.5 bbkey-ms/key	       247.6 ssh-keygen-ms/key
BenchmarkGenerateWrite-2   	      12	 212345678 ns/op
PASS
`)
	m := parseBenchMetrics(out, "BenchmarkGenerateVsSSHKeygen")
	if m["bbkey-ms/key"] != 210.5 || m["ssh-keygen-ms/key"] != 247.6 || m["bbkey/ssh-keygen"] != 0.85 || m["ns/op"] != 512345678 {
		t.Errorf("metrics = %v", m)
	}
	if m := parseBenchMetrics(out, "BenchmarkGenerate"); len(m) != 0 {
		t.Errorf("a prefix of another benchmark's name matched: %v", m)
	}
}

// TestParseRemoteBench reads what bench/remote/bench.sh really prints (its awk block, run
// with fixed times), so a change to that script's format shows up here.
func TestParseRemoteBench(t *testing.T) {
	script, err := os.ReadFile("remote/bench.sh")
	if err != nil {
		t.Skip("bench/remote/bench.sh is not there")
	}
	i := bytes.Index(script, []byte("awk "))
	if i < 0 {
		t.Fatal("bench.sh has no awk table")
	}
	awk := string(script[i:])
	awk = strings.NewReplacer(`"$N"`, "1000", `"$(getconf _NPROCESSORS_ONLN)"`, "2",
		`"$t0"`, "100", `"$t1"`, "112.5", `"$t2"`, "114", `"$t3"`, "114.25").Replace(awk)
	out, err := exec.Command("sh", "-c", awk).Output()
	if err != nil {
		t.Skipf("running the awk block: %v", err)
	}
	r, err := parseRemoteBench(out)
	if err != nil {
		t.Fatal(err)
	}
	want := remoteBench{shell: 12500 * time.Millisecond, bbkey: 1500 * time.Millisecond, again: 250 * time.Millisecond}
	if r != want {
		t.Errorf("parsed %+v, want %+v from\n%s", r, want, out)
	}
	if _, err := parseRemoteBench([]byte("something else 1.0\n")); err == nil {
		t.Error("unrecognised output parsed")
	}
}

func TestRenderResults(t *testing.T) {
	rows := []Row{
		{Name: "a | b", Ours: "1.0 ms", Baseline: "2.0 ms", Ratio: ratio(1, 2), Target: "≤ 1.00x", Verdict: verdict(true)},
		notAvailable("missing", "no program"),
	}
	m := Machine{CPUs: 2, Arch: "x86_64", OS: "linux", GoVersion: "go1.26.8", Date: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}
	got := string(RenderResults(rows, m, 83*time.Second))
	for _, want := range []string{
		"Machine: 2 CPUs (nproc), x86_64, linux, go1.26.8, 2026-11-22. Whole run: 1m23s.",
		`| a \| b | 1.0 ms | 2.0 ms | 0.50x | ≤ 1.00x | pass |`,
		"| missing | not available | - | - | - | n/a |",
		"- **missing**: no program",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("RESULTS.md lacks %q:\n%s", want, got)
		}
	}
	var b bytes.Buffer
	PrintTable(&b, rows)
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "measurement") {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestParseAccessKeyBench(t *testing.T) {
	out := []byte(`add-access-key to 500 repositories, 100ms latency per request (emulator on loopback)

approach                                            wall time   calls   fits 1,000 calls/h   
bbkey add-access-key --concurrency 8                7.9s        506     yes                  
sequential: list, then GET + POST per repository    104.2s      1005    no                   
sequential / bbkey                                  13.2x       1.99x                        
`)
	ours, seq, err := parseAccessKeyBench(out)
	if err != nil {
		t.Fatal(err)
	}
	if ours.wall != 7900*time.Millisecond || ours.calls != 506 || seq.wall != 104200*time.Millisecond || seq.calls != 1005 {
		t.Errorf("parsed %+v and %+v", ours, seq)
	}
	if _, _, err := parseAccessKeyBench([]byte("approach wall time calls\n")); err == nil {
		t.Error("a table without runs parsed")
	}
}

func TestParseAuditBench(t *testing.T) {
	out := []byte(`audit of 1000 repositories and 1 project, 100ms latency per request (emulator on loopback)

approach                                 wall time   calls   /2.0/repositories calls   placements   
bbkey audit (--concurrency 10)           11.7s       1012    1010                      1101         
sequential: list, then each one's keys   103.9s      1012    1010                      1101         
sequential / bbkey                       8.9x        1.00x                                          
`)
	ours, seq, err := parseAuditBench(out)
	if err != nil {
		t.Fatal(err)
	}
	if ours.wall != 11700*time.Millisecond || ours.calls != 1012 || ours.repoCalls != 1010 || seq.wall != 103900*time.Millisecond || seq.repoCalls != 1010 {
		t.Errorf("parsed %+v and %+v", ours, seq)
	}
	if _, _, err := parseAuditBench([]byte("approach wall time calls\n")); err == nil {
		t.Error("a table without runs parsed")
	}
}
