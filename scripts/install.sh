#!/usr/bin/env bash
# Installs the man pages and shell completions of every ipc-lab program on PATH, for this user
# only: each program prints its own (PROGRAM --generate man, --generate complete-bash, ...).
set -euo pipefail

programs=(shm-master shm-slave pipe-demo mq-send mq-recv sig-demo shm-race proc-demo ipc-bench lab-check)
data=${XDG_DATA_HOME:-$HOME/.local/share}
man=$HOME/.local/share/man/man1
bash_dir=$data/bash-completion/completions
zsh_dir=$data/zsh/site-functions
fish_dir=${XDG_CONFIG_HOME:-$HOME/.config}/fish/completions

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    cat <<USAGE
Usage: scripts/install.sh

Installs the man pages and the bash, zsh and fish completions of the ipc-lab programs found
on PATH (put them there first: cargo install --locked --path .). It writes only these files:
  $man/PROGRAM.1
  $bash_dir/PROGRAM
  $zsh_dir/_PROGRAM
  $fish_dir/PROGRAM.fish
Running it again rewrites the same files (after an update of the programs, say).
USAGE
    exit 0
elif (($# > 0)); then
    echo "install.sh: unexpected argument: $1 (try --help)" >&2
    exit 2
fi

missing=()
for p in "${programs[@]}"; do command -v "$p" >/dev/null || missing+=("$p"); done
if ((${#missing[@]} > 0)); then
    echo "install.sh: not on PATH: ${missing[*]}" >&2
    echo "hint: run \`cargo install --locked --path .\` first (it puts them in ~/.cargo/bin)," \
        "or add the folder they are built in to PATH" >&2
    exit 1
fi
for dir in "$man" "$bash_dir" "$zsh_dir" "$fish_dir"; do
    [[ $dir == "$HOME"/* ]] || { echo "install.sh: $dir is not under \$HOME: nothing written" >&2; exit 1; }
done

mkdir -p "$man" "$bash_dir" "$zsh_dir" "$fish_dir"
put() { # put FILE PROGRAM KIND: the program's output, in place only once it is whole
    "$2" --generate "$3" >"$1.tmp" || { rm -f "$1.tmp"; return 1; }
    mv -f "$1.tmp" "$1"
}
for p in "${programs[@]}"; do
    put "$man/$p.1" "$p" man
    put "$bash_dir/$p" "$p" complete-bash
    put "$zsh_dir/_$p" "$p" complete-zsh
    put "$fish_dir/$p.fish" "$p" complete-fish
done
echo "installed for ${#programs[@]} programs: man pages in $man; completions in $bash_dir," \
    "$zsh_dir and $fish_dir"
if command -v manpath >/dev/null && [[ :$(manpath 2>/dev/null): != *":$HOME/.local/share/man:"* ]]; then
    echo "note: man looks in ~/.local/share/man only with ~/.local/bin on PATH; or add this line" \
        "to ~/.bashrc: export MANPATH=\"\$HOME/.local/share/man:\"" >&2
fi
