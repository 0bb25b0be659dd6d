// Small helpers shared by the probes of `airlock-init probe`.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace airlock::init {

// "EPERM" for EPERM; "errno 1234" for numbers libc does not name.
std::string ErrnoName(int err);

// The value of "Key:\tvalue" in /proc/<pid>/status text, trimmed; false when absent.
bool StatusField(const std::string& status_text, const std::string& key, std::string* value);

// Parses a hexadecimal capability mask ("000001ffffffffff").
bool ParseHexMask(const std::string& text, uint64_t* mask);

// Runs `attempt` in a forked child (so whatever it changes dies with the child) and returns what it
// returned: 0 for "the call succeeded", else an errno. -1 with `error` set when the child could not
// run or did not finish within a few seconds (it is then killed).
int RunInChild(int (*attempt)(), std::string* error);

// Waits (bounded) for a child this process started; its exit code, or -1 when it had to be killed.
int WaitChild(pid_t pid);

}  // namespace airlock::init
