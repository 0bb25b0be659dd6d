#include "cmd/airlock/run/run_args.h"

#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cmd/airlock/run/exit_codes.h"
#include "policy/duration_size.h"
#include "policy/model.h"

namespace airlock::run {

bool IsEnvName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

namespace {

// The value of a change-set limit flag: a count (--max-files) or a byte size as in the host config.
bool ParseLimit(const std::string& flag, const std::string& value, bool is_size, uint64_t* out, std::string* problem) {
  if (is_size) {
    absl::StatusOr<uint64_t> size = policy::ParseByteSize(value);
    if (!size.ok()) return *problem = absl::StrCat(flag, ": ", size.status().message()), false;
    *out = *size;
  } else if (value.find_first_not_of("0123456789") != std::string::npos) {
    return *problem = absl::StrCat(flag, " ", value, ": want a whole number of files, e.g. 20000"), false;
  } else if (!absl::SimpleAtoi(value, out)) {
    return *problem = absl::StrCat(flag, " ", value, ": too large"), false;
  }
  if (*out == 0) return *problem = absl::StrCat(flag, " ", value, ": must be more than 0"), false;
  return true;
}

}  // namespace

bool ParseRunArgs(const std::vector<std::string>& args, RunArgs* out, std::string* problem) {
  RunArgs parsed;
  std::map<std::string, std::string*> values = {
      {"--repo", &parsed.repo},         {"--image", &parsed.image},       {"--setup", &parsed.setup},
      {"--check", &parsed.check},       {"--policy", &parsed.policy},     {"--address", &parsed.address},
      {"--internet", &parsed.internet}, {"--maintenance", &parsed.maintenance},
      {"--namespace", &parsed.name_space}, {"--snapshotter", &parsed.snapshotter},
      {"--work-dir", &parsed.work_dir}, {"--id", &parsed.id},
  };
  struct Limit {
    std::optional<uint64_t>* target;
    bool is_size;
  };
  std::map<std::string, Limit> limits = {{"--max-files", {&parsed.max_files, false}},
                                         {"--max-file-size", {&parsed.max_file_size, true}},
                                         {"--max-total-size", {&parsed.max_total_size, true}}};
  std::map<std::string, bool*> switches = {
      {"--allow-dirty", &parsed.allow_dirty}, {"--no-cache", &parsed.no_cache}, {"--json", &parsed.json}, {"--help", &parsed.help}, {"-h", &parsed.help}};
  bool saw_separator = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--") {
      parsed.agent.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      saw_separator = true;
      break;
    }
    if (arg == "-n") arg = "--namespace";
    std::string inline_value;
    bool has_inline = false;
    if (arg.rfind("--", 0) == 0) {
      if (size_t eq = arg.find('='); eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_inline = true;
      }
    }
    if (auto it = switches.find(arg); it != switches.end()) {
      if (has_inline) return *problem = absl::StrCat(arg, " takes no value"), false;
      *it->second = true;
      continue;
    }
    std::string value;
    bool is_value_flag = values.count(arg) > 0 || limits.count(arg) > 0 || arg == "--secret" || arg == "--timeout";
    if (!is_value_flag) {
      *problem = arg.rfind('-', 0) == 0 ? absl::StrCat("unknown flag ", arg)
                                        : absl::StrCat("unexpected argument \"", arg, "\" (the agent command goes after --)");
      return false;
    }
    if (has_inline) {
      value = inline_value;
    } else {
      if (i + 1 >= args.size()) return *problem = absl::StrCat(arg, " needs a value"), false;
      value = args[++i];
    }
    if (arg == "--secret") {
      if (!IsEnvName(value)) return *problem = absl::StrCat("--secret ", value, ": not a variable name"), false;
      for (const std::string& s : parsed.secrets) {
        if (s == value) return *problem = absl::StrCat("--secret ", value, " given twice"), false;
      }
      parsed.secrets.push_back(value);
      continue;
    }
    if (value.empty()) return *problem = absl::StrCat(arg, " needs a non-empty value"), false;
    if (arg == "--timeout") {
      if (parsed.timeout) return *problem = "--timeout given twice", false;
      absl::Duration d;
      if (!absl::ParseDuration(value, &d) || d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
        return *problem = absl::StrCat("--timeout ", value, ": want a duration, e.g. 90s, 30m or 2h"), false;
      }
      parsed.timeout = d;
      continue;
    }
    if (auto it = limits.find(arg); it != limits.end()) {
      if (it->second.target->has_value()) return *problem = absl::StrCat(arg, " given twice"), false;
      uint64_t limit = 0;
      if (!ParseLimit(arg, value, it->second.is_size, &limit, problem)) return false;
      *it->second.target = limit;
      continue;
    }
    std::string* target = values[arg];
    if (!target->empty()) return *problem = absl::StrCat(arg, " given twice"), false;
    *target = value;
  }
  if (!parsed.help) {
    if (parsed.repo.empty()) return *problem = "--repo PATH is required", false;
    if (parsed.image.empty()) return *problem = "--image REF is required", false;
    if (!saw_separator || parsed.agent.empty()) return *problem = "the agent command is missing: ... -- AGENT [ARGS...]", false;
    if (parsed.agent.front().empty()) return *problem = "the agent command is empty", false;
  }
  *out = std::move(parsed);
  return true;
}

std::string RunUsage() {
  const policy::RunLimits builtin;
  return absl::StrCat(
      "usage: airlock run --repo PATH --image REF [--setup CMD] [--check CMD] [--secret NAME]...\n"
      "                   [--policy FILE | --internet SPEC] [--address SOCK] [--namespace NS]\n"
      "                   [--snapshotter NAME]\n"
      "                   [--work-dir DIR] [--id ID] [--max-files N] [--max-file-size SIZE]\n"
      "                   [--max-total-size SIZE] [--timeout D] [--allow-dirty] [--no-cache]\n"
      "                   [--maintenance CMD] [--json] -- AGENT [ARGS...]\n"
      "\n"
      "  One task from a repository to a reviewable branch, in a fresh disposable airlock sandbox:\n"
      "    1. workspace  the repository's HEAD written by airlock into a size-limited directory\n"
      "                  (the checkout and its branches are never written; only the new branch is)\n"
      "    2. setup      --setup CMD (sh -c) in the container with network; --secret NAME passes\n"
      "                  NAME=$NAME from this environment to setup only; with the policy's cache:\n"
      "                  section, a run whose key matches an entry starts from what setup left\n"
      "                  (rootfs, untracked workspace files) and skips it (airlock cache ls)\n"
      "    3. seal       network gone (verified), rootfs read-only, secrets gone; then the agent:\n"
      "                  AGENT ARGS... runs in the repository (/workspace), output streamed\n"
      "    4. check      --check CMD (sh -c), e.g. the tests, in a fresh sealed sandbox (same image,\n"
      "                  policy and setup) on exactly the change set's tree\n"
      "    5. review     the changes become a commit on branch airlock/<task-id> of the repository\n"
      "                  and a .patch file, after a scan for the secrets' values (a hit blocks both);\n"
      "                  the container, its snapshot and lease are destroyed and checked gone\n"
      "\n"
      "  --policy FILE     the airlock policy (default: the host config's default_policy if it exists,\n"
      "                    else a built-in run policy: setup with NAT network and a writable rootfs)\n"
      "  --internet SPEC   the agent gets HTTP(S) through the airlock proxy (built-in run policy only):\n"
      "                    common-dependencies, all, and/or host names (\"*.example.com\"), comma-separated;\n"
      "                    GET/HEAD/OPTIONS for plain HTTP, every request audited and summed up at the end\n"
      "  --no-cache        the policy's setup cache (cache:) is neither read nor written\n"
      "  --maintenance CMD on a cache hit, CMD (sh -c) runs instead of setup, with network and secrets\n"
      "                    (default: the policy's cache.maintenance; none: the sandbox seals at once)\n"
      "  --address SOCK    containerd's socket (default $CONTAINERD_ADDRESS or /run/containerd/containerd.sock)\n"
      "  --namespace NS    containerd namespace (default $CONTAINERD_NAMESPACE or \"default\")\n"
      "  --snapshotter S   default $CONTAINERD_SNAPSHOTTER or overlayfs\n"
      "  --work-dir DIR    where workspaces and patches go (default: <first allowed_repo_root of the\n"
      "                    host config>/airlock-run); the workspace must lie under an allowed root\n"
      "  --id ID           the task id (default: run-<date>-<time>-<random>)\n"
      "  --allow-dirty     run although the repository has uncommitted changes (they stay out)\n"
      "  --json            one JSON object per line on stdout (progress, output, summary)\n"
      "  --timeout D       the agent's deadline, and the check's (e.g. 30m; the policy's execution.timeout\n"
      "                    applies too): past it the sandbox is stopped and the run exits with 15\n"
      "\n"
      "  change-set limits (defaults from the host config's run: section); over one, nothing is written:\n"
      "  --max-files N          changed paths (built-in default ", builtin.max_files, ")\n"
      "  --max-file-size SIZE   bytes of one changed file (built-in default ",
      policy::FormatByteSize(builtin.max_file_size), "; SIZE: bytes, 512Ki, 2Gi)\n"
      "  --max-total-size SIZE  bytes of all changed files together (built-in default ",
      policy::FormatByteSize(builtin.max_total_size), ")\n"
      "\n"
      "  The image needs `sleep` (it keeps the sandbox open between the agent and the check).\n"
      "\n"
      "exit codes:\n",
      RunExitHelp());
}

}  // namespace airlock::run
