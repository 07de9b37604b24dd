package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Verdict is how a row compares with its target.
type Verdict string

const (
	Pass Verdict = "pass"
	Fail Verdict = "FAIL"
	// Info rows have no target of their own (a baseline's call count, a plain build).
	Info Verdict = "-"
	// NA rows could not be measured; Note says why.
	NA Verdict = "n/a"
)

// Row is one line of the table. Ours and Baseline are already formatted with their unit.
type Row struct {
	Name     string
	Ours     string
	Baseline string
	Ratio    string
	Target   string
	Verdict  Verdict
	Note     string
}

// notAvailable is the row for a measurement that could not run.
func notAvailable(name, why string) Row {
	return Row{Name: name, Ours: "not available", Verdict: NA, Note: why}
}

func verdict(ok bool) Verdict {
	if ok {
		return Pass
	}
	return Fail
}

// ratio formats a/b as "0.85x" (bbkey over baseline: below 1 is bbkey faster or smaller).
func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

func secs(d time.Duration) string {
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// PrintTable writes rows as an aligned text table, notes underneath.
func PrintTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\tbbkey\tbaseline\tratio\ttarget\tresult")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, dash(r.Ours), dash(r.Baseline), dash(r.Ratio), dash(r.Target), r.Verdict)
	}
	tw.Flush()
	for _, r := range rows {
		if r.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Name, r.Note)
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// RenderResults is bench/RESULTS.md for a run.
func RenderResults(rows []Row, m Machine, total time.Duration) []byte {
	var b bytes.Buffer
	b.WriteString("# Benchmark results\n\n")
	b.WriteString("Written by `go run ./bench -write` (see `bench/main.go`); re-run it to refresh. Both sides of\n")
	b.WriteString("each comparison ran in the same run on the same machine, one after the other: read the\n")
	b.WriteString("ratios, not the absolute times, which depend on the machine and its load.\n\n")
	fmt.Fprintf(&b, "Machine: %s. Whole run: %s.\n\n", m, total.Round(time.Second))
	b.WriteString("| measurement | bbkey | baseline | ratio | target | result |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", md(r.Name), md(dash(r.Ours)), md(dash(r.Baseline)), md(dash(r.Ratio)), md(dash(r.Target)), r.Verdict)
	}
	var notes []string
	for _, r := range rows {
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("- **%s**: %s", md(r.Name), md(r.Note)))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		b.WriteString(strings.Join(notes, "\n"))
		b.WriteString("\n")
	}
	return b.Bytes()
}

func md(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
