#!/usr/bin/env bash
# bench/remote/bench.sh: bbkey remote --recursive against a shell loop of
# `git remote set-url` over the same tree of generated clones.
#
#   bench/remote/bench.sh            # 1,000 clones
#   N=200 bench/remote/bench.sh      # fewer
#   BBKEY=/path/to/bbkey bench/remote/bench.sh   # a binary built elsewhere
#
# Each clone is `git init` plus an HTTPS remote with an app password (no network). The
# tree is generated once and copied, so both contestants start from identical files. The
# shell loop is given its best case: it computes each new URL from the path instead of
# reading the old one. Everything runs in a throw-away HOME with GIT_CONFIG_NOSYSTEM=1.
set -euo pipefail

N=${N:-1000}
WS=${WS:-10} # workspaces the clones are spread over
repo_root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bbkey-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [[ -n ${BBKEY:-} ]]; then # a binary built elsewhere
	cp "$BBKEY" "$tmp/bbkey"
else
	echo "building bbkey…" >&2
	(cd "$repo_root" && go build -o "$tmp/bbkey" .)
fi

export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config BBKEY_SSH_DIR=$tmp/home/.ssh
export GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$BBKEY_SSH_DIR"

echo "generating $N clones…" >&2
gen=$tmp/gen
for ((i = 0; i < N; i++)); do
	ws=ws$((i % WS))
	dir=$gen/$ws/repo$i
	git init -q "$dir"
	git -C "$dir" config remote.origin.url "https://alice:app-pw-$i@bitbucket.org/$ws/repo$i.git"
	git -C "$dir" config remote.origin.fetch '+refs/heads/*:refs/remotes/origin/*'
done
cp -a "$gen" "$tmp/shell"
cp -a "$gen" "$tmp/bbkey-tree"

now() { date +%s.%N; }

echo "shell loop…" >&2
t0=$(now)
find "$tmp/shell" -name .git -type d -prune | while read -r d; do
	r=${d%/.git}
	git -C "$r" remote set-url origin "git@ssh.bitbucket.org:${r#"$tmp/shell/"}.git"
done
t1=$(now)

echo "bbkey…" >&2
"$tmp/bbkey" remote --recursive "$tmp/bbkey-tree" --yes >/dev/null 2>"$tmp/bbkey.err" || {
	cat "$tmp/bbkey.err" >&2
	exit 1
}
t2=$(now)
"$tmp/bbkey" remote --recursive "$tmp/bbkey-tree" --yes >/dev/null 2>"$tmp/bbkey2.err"
t3=$(now)

# Both trees must end up identical, and the re-run must have changed nothing.
diff -r "$tmp/shell" "$tmp/bbkey-tree" >/dev/null || { echo "trees differ after the runs" >&2; exit 1; }
grep -q "Nothing to rewrite" "$tmp/bbkey2.err" || { echo "re-run was not a no-op:" >&2; cat "$tmp/bbkey2.err" >&2; exit 1; }

awk -v n="$N" -v cpus="$(getconf _NPROCESSORS_ONLN)" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" 'BEGIN {
	shell = t1 - t0; bb = t2 - t1; again = t3 - t2
	printf "%-44s %10s\n", "run (" n " clones, " cpus " CPUs)", "seconds"
	printf "%-44s %10.2f\n", "shell loop: find | git remote set-url", shell
	printf "%-44s %10.2f\n", "bbkey remote --recursive --yes", bb
	printf "%-44s %10.2f\n", "bbkey remote --recursive (re-run, no-op)", again
	printf "%-44s %9.1fx\n", "ratio shell / bbkey", shell / bb
}'
