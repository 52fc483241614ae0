#!/bin/sh
# Writes the man pages (DIR, default out/man) and the shell completions
# (DIR/../completions) from the command tree. The man page generator is
# built in only with -tags genman, so the shipped binary stays small.
set -eu
GO=${GO:-go}
man=${1:-out/man}
comp=$(dirname "$man")/completions
mkdir -p "$man" "$comp"
bin=$(mktemp -d)/ghlbulk
trap 'rm -rf "$(dirname "$bin")"' EXIT
$GO build -tags genman -o "$bin" ./cmd/ghlbulk
"$bin" gen-man "$man" >/dev/null
for sh in bash zsh fish powershell; do
	"$bin" completion "$sh" >"$comp/ghlbulk.$sh"
done
echo "man pages in $man, completions in $comp"
