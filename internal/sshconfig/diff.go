package sshconfig

import (
	"bytes"
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines shown around each change.
const diffContext = 3

// maxDiffCells bounds the LCS table; beyond it the changed middle is shown as replaced
// wholesale, which is still a correct (if long) diff.
const maxDiffCells = 1 << 22

type diffOp struct {
	kind byte // ' ', '-', '+'
	line []byte
}

// UnifiedDiff renders the change from old to new as a unified diff (`diff -u` style)
// with the given file names, or "" when they are equal. Line endings are compared, so a
// CRLF → LF change shows, but printed without the carriage return.
func UnifiedDiff(oldName, newName string, old, new []byte) string {
	if bytes.Equal(old, new) {
		return ""
	}
	ops := diffLines(splitLines(old), splitLines(new))
	var s strings.Builder
	fmt.Fprintf(&s, "--- %s\n+++ %s\n", oldName, newName)

	// Line numbers before each op, 0-based.
	oldAt := make([]int, len(ops)+1)
	newAt := make([]int, len(ops)+1)
	for i, op := range ops {
		oldAt[i+1], newAt[i+1] = oldAt[i], newAt[i]
		if op.kind != '+' {
			oldAt[i+1]++
		}
		if op.kind != '-' {
			newAt[i+1]++
		}
	}
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(0, i-diffContext)
		end := i // one past the last change of the hunk
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				if j-end > 2*diffContext {
					break
				}
				end = j + 1
			}
		}
		stop := min(len(ops), end+diffContext)
		oc, nc := oldAt[stop]-oldAt[start], newAt[stop]-newAt[start]
		fmt.Fprintf(&s, "@@ -%s +%s @@\n", hunkRange(oldAt[start], oc), hunkRange(newAt[start], nc))
		for _, op := range ops[start:stop] {
			s.WriteByte(op.kind)
			s.Write(bytes.TrimRight(op.line, "\r\n"))
			s.WriteByte('\n')
			if !bytes.HasSuffix(op.line, []byte("\n")) {
				s.WriteString("\\ No newline at end of file\n")
			}
		}
		i = stop
	}
	return s.String()
}

func hunkRange(before, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, count)
}

// splitLines splits b into lines that keep their endings.
func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b) - 1
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}

// diffLines is a longest-common-subsequence line diff after trimming the common prefix
// and suffix (which is all there is to most config edits).
func diffLines(a, b [][]byte) []diffOp {
	var ops []diffOp
	p := 0
	for p < len(a) && p < len(b) && bytes.Equal(a[p], b[p]) {
		ops = append(ops, diffOp{' ', a[p]})
		p++
	}
	sfx := 0
	for sfx < len(a)-p && sfx < len(b)-p && bytes.Equal(a[len(a)-1-sfx], b[len(b)-1-sfx]) {
		sfx++
	}
	ma, mb := a[p:len(a)-sfx], b[p:len(b)-sfx]
	ops = append(ops, lcsOps(ma, mb)...)
	for _, l := range a[len(a)-sfx:] {
		ops = append(ops, diffOp{' ', l})
	}
	return ops
}

func lcsOps(a, b [][]byte) []diffOp {
	n, m := len(a), len(b)
	var ops []diffOp
	if n*m > maxDiffCells || n == 0 || m == 0 {
		for _, l := range a {
			ops = append(ops, diffOp{'-', l})
		}
		for _, l := range b {
			ops = append(ops, diffOp{'+', l})
		}
		return ops
	}
	// t[i][j] is the LCS length of a[i:] and b[j:].
	t := make([][]int32, n+1)
	for i := range t {
		t[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if bytes.Equal(a[i], b[j]) {
				t[i][j] = t[i+1][j+1] + 1
			} else {
				t[i][j] = max(t[i+1][j], t[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case bytes.Equal(a[i], b[j]):
			ops = append(ops, diffOp{' ', a[i]})
			i++
			j++
		case t[i+1][j] >= t[i][j+1]:
			ops = append(ops, diffOp{'-', a[i]})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		ops = append(ops, diffOp{'-', a[i]})
	}
	for ; j < m; j++ {
		ops = append(ops, diffOp{'+', b[j]})
	}
	return ops
}
