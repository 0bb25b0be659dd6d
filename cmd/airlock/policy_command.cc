// airlock policy check [--host-config] FILE...   validate files, print "FILE: ok (sha256:...)"
// airlock policy explain FILE | --builtin        what a container may and may not do, phase by phase
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cmd/airlock/command.h"
#include "policy/explain.h"
#include "policy/host_config.h"
#include "policy/load.h"
#include "policy/parse.h"

namespace airlock::cli {
namespace {

constexpr char kPolicyUsage[] =
    "usage: airlock policy check [--host-config] FILE...\n"
    "       airlock policy explain FILE | --builtin\n"
    "\n"
    "  check      parse FILE strictly as a policy (or, with --host-config, as /etc/airlock/config.yaml);\n"
    "             print \"FILE: ok (sha256:...)\" or the errors (file:line:column: key: problem)\n"
    "  explain    describe in plain words what a container under the policy can and cannot do\n"
    "             before and after the seal (--builtin: the built-in strictest policy)\n";

int UsageError(const std::string& problem) {
  if (!problem.empty()) std::fprintf(stderr, "airlock policy: %s\n", problem.c_str());
  std::fputs(kPolicyUsage, stderr);
  return kExitUsage;
}

// Splits words into flags (checked against `known`) and operands; "--" ends flags.
bool SplitArgs(const std::vector<std::string>& args, const std::vector<std::string>& known,
               std::vector<std::string>& flags, std::vector<std::string>& operands, std::string& problem) {
  bool flags_done = false;
  for (const std::string& arg : args) {
    if (!flags_done && arg == "--") {
      flags_done = true;
    } else if (!flags_done && arg.size() > 1 && arg[0] == '-') {
      bool ok = false;
      for (const std::string& k : known) ok = ok || arg == k;
      if (!ok) {
        problem = "unknown flag " + arg;
        return false;
      }
      flags.push_back(arg);
    } else {
      operands.push_back(arg);
    }
  }
  return true;
}

bool Has(const std::vector<std::string>& flags, const std::string& flag) {
  for (const std::string& f : flags) {
    if (f == flag) return true;
  }
  return false;
}

int Check(const std::vector<std::string>& args) {
  std::vector<std::string> flags, files;
  std::string problem;
  if (!SplitArgs(args, {"--host-config"}, flags, files, problem)) return UsageError(problem);
  if (files.empty()) return UsageError("check needs a FILE");
  const bool host_config = Has(flags, "--host-config");
  int exit_code = kExitOk;
  for (const std::string& file : files) {
    absl::StatusOr<std::string> text = policy::ReadConfigFile(file);
    absl::Status status = text.status();
    if (status.ok()) {
      status = host_config ? policy::ParseHostConfig(*text, file).status() : policy::ParsePolicy(*text, file).status();
    }
    if (status.ok()) {
      std::printf("%s: ok (%s)\n", file.c_str(), policy::PolicyDigest(*text).c_str());
    } else {
      std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
      exit_code = kExitFailure;
    }
  }
  return exit_code;
}

int Explain(const std::vector<std::string>& args) {
  std::vector<std::string> flags, files;
  std::string problem;
  if (!SplitArgs(args, {"--builtin"}, flags, files, problem)) return UsageError(problem);
  const bool builtin = Has(flags, "--builtin");
  if (builtin == (files.size() == 1) || files.size() > 1) return UsageError("explain needs one FILE or --builtin");
  absl::StatusOr<policy::LoadedPolicy> loaded = builtin ? policy::BuiltinPolicy() : policy::LoadPolicyFile(files[0]);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", std::string(loaded.status().message()).c_str());
    return kExitFailure;
  }
  std::printf("Policy %s (%s)\n\n%s", loaded->source.c_str(), loaded->digest.c_str(),
              policy::ExplainPolicy(loaded->policy).c_str());
  return kExitOk;
}

}  // namespace

int RunPolicy(const std::vector<std::string>& args) {
  if (args.empty()) return UsageError("");
  const std::string& sub = args[0];
  if (sub == "-h" || sub == "--help" || sub == "help") {
    std::fputs(kPolicyUsage, stdout);
    return kExitOk;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (sub == "check") return Check(rest);
  if (sub == "explain") return Explain(rest);
  return UsageError("unknown subcommand " + sub);
}

}  // namespace airlock::cli
