// Installing the execution seccomp filter that the shim compiled (raw BPF, no libseccomp here).
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

namespace airlock::init {

// A raw `struct sock_filter` array (as seccomp_export_bpf writes it), its size checked.
bool FilterFromBytes(const std::string& bytes, std::vector<sock_filter>* program, std::string* error);

// Sets no_new_privs and installs `program` for every thread of the process (TSYNC). Irreversible.
bool InstallFilter(const std::vector<sock_filter>& program, std::string* error);

}  // namespace airlock::init
