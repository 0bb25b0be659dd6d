#!/bin/sh
# greet: prints a greeting.
. "$(dirname "$0")/../vendor/greetlib.sh"
greet_line "hello, world"
