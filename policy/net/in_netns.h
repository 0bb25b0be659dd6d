// Running a piece of code inside another network namespace without moving any of the caller's
// threads: a short-lived thread joins the namespace, runs the function and exits. Whatever the
// function creates there (sockets, nftables state, sysctl writes) stays in that namespace.
#pragma once

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace airlock::net {

// Runs `fn` on a new thread that setns()es into `netns_fd` first; returns fn's status, or the error
// of creating the thread / joining the namespace. With netns_fd < 0 the thread stays in the
// caller's netns (fn still runs on the new thread, for uniform behaviour).
absl::Status RunInNetns(int netns_fd, absl::FunctionRef<absl::Status()> fn);

// Makes a T on a thread inside `netns_fd` (RunInNetns): a socket or a /proc/thread-self/net file
// made there keeps pointing at that namespace.
template <typename T>
absl::StatusOr<T> MakeInNetns(int netns_fd, absl::FunctionRef<absl::StatusOr<T>()> make) {
  absl::StatusOr<T> made = absl::InternalError("not made");
  absl::Status status = RunInNetns(netns_fd, [&] {
    made = make();
    return made.status();
  });
  if (!status.ok()) return status;
  return made;
}

// True when `fd` refers to a network namespace (nsfs, NS_GET_NSTYPE == CLONE_NEWNET).
bool IsNetnsFd(int fd);

}  // namespace airlock::net
