#include "policy/sandbox/ipc_sweep.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "shim/base/errno_status.h"
#include "shim/base/unique_fd.h"

namespace airlock::sandbox {
namespace {

// semctl's fourth argument (the caller defines it, says semctl(2)).
union SemArg {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
  struct seminfo* info;
};

// One kind of object: the highest index in use (its *_INFO), then *_STAT by index gives each id to
// remove. An object gone meanwhile (EINVAL/EIDRM) is fine. Returns the count removed, or -errno.
template <typename Highest, typename IdAt, typename Remove>
int RemoveEach(Highest highest_index, IdAt id_at, Remove remove) {
  const int highest = highest_index();
  if (highest < 0) return -errno;
  int removed = 0;
  for (int index = 0; index <= highest; ++index) {
    const int id = id_at(index);
    if (id < 0) continue;
    if (remove(id) == 0) {
      ++removed;
    } else if (errno != EINVAL && errno != EIDRM) {
      return -errno;
    }
  }
  return removed;
}

int RemoveShm() {
  return RemoveEach(
      [] {
        struct shm_info info {};
        return shmctl(0, SHM_INFO, reinterpret_cast<struct shmid_ds*>(&info));
      },
      [](int index) {
        struct shmid_ds ds {};
        return shmctl(index, SHM_STAT, &ds);
      },
      [](int id) { return shmctl(id, IPC_RMID, nullptr); });
}

int RemoveMsg() {
  return RemoveEach(
      [] {
        struct msginfo info {};
        return msgctl(0, MSG_INFO, reinterpret_cast<struct msqid_ds*>(&info));
      },
      [](int index) {
        struct msqid_ds ds {};
        return msgctl(index, MSG_STAT, &ds);
      },
      [](int id) { return msgctl(id, IPC_RMID, nullptr); });
}

int RemoveSem() {
  return RemoveEach(
      [] {
        struct seminfo info {};
        SemArg arg{};
        arg.info = &info;
        return semctl(0, 0, SEM_INFO, arg);
      },
      [](int index) {
        struct semid_ds ds {};
        SemArg arg{};
        arg.buf = &ds;
        return semctl(index, 0, SEM_STAT, arg);
      },
      [](int id) { return semctl(id, 0, IPC_RMID); });
}

}  // namespace

absl::StatusOr<IpcSweepResult> RemoveSysvIpc(pid_t init) {
  UniqueFd ns(open(absl::StrCat("/proc/", init, "/ns/ipc").c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return ErrnoStatus("open the container's IPC namespace");
  struct stat theirs {};
  struct stat ours {};
  if (fstat(ns.get(), &theirs) != 0 || stat("/proc/thread-self/ns/ipc", &ours) != 0) {
    return ErrnoStatus("stat the IPC namespaces");
  }
  if (theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev) {
    return absl::FailedPreconditionError("the container shares the shim's IPC namespace: its SysV IPC is not swept");
  }
  // setns(CLONE_NEWIPC) changes the calling thread only: a one-shot thread enters and removes.
  IpcSweepResult result;
  int err = 0;
  try {
    std::thread sweeper([&] {
      if (setns(ns.get(), CLONE_NEWIPC) != 0) {
        err = errno;
        return;
      }
      result.shm = RemoveShm();
      result.msg = RemoveMsg();
      result.sem = RemoveSem();
    });
    sweeper.join();
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat("a thread for the IPC sweep: ", e.what()));
  }
  if (err != 0) return ErrnoStatus(err, "enter the container's IPC namespace");
  for (int count : {result.shm, result.msg, result.sem}) {
    if (count < 0) return ErrnoStatus(-count, "remove the container's SysV IPC objects");
  }
  return result;
}

}  // namespace airlock::sandbox
