# greetlib 1.2: the demo's dependency, served by the demo's package mirror (not part of the repository).
greet_line() { printf '* %s\n' "$1"; }
