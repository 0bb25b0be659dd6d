// grpc_task_client: drives a shim's task API over gRPC on a unix socket, as containerd 2.x does.
//
//   grpc_task_client --address unix:///run/x.sock [--version 3] [--namespace NS] [--timeout S] COMMAND [flags]
//
// Commands: connect create start state pids exec kill wait delete stats shutdown pause resume
//           close-io resize update. Prints one JSON line per call; on an RPC error it prints
//           {"command":..,"error":{"code":N,"name":"NOT_FOUND","message":..}} and exits 1; usage
//           errors exit 2. Requests are our lite messages (proto/containerd/task/v2): task v3 uses
//           identical messages, so only the method path differs.
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "containerd/runtimeoptions/v1/api.pb.h"
#include "containerd/task/v2/shim.pb.h"
#include "containerd/types/task/task.pb.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "test/tools/grpc_code_name.h"

namespace {

namespace task = containerd::task::v2;
using Json = nlohmann::json;

constexpr const char* kProcessSpecType = "types.containerd.io/opencontainers/runtime-spec/1/Process";
constexpr const char* kResourcesType = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
constexpr const char* kRuntimeOptionsType = "runtimeoptions.v1.Options";
constexpr int kMaxMessageBytes = 16 << 20;  // containerd's default
constexpr int kDefaultTimeoutSeconds = 60;

const char* const kUsage =
    "usage: grpc_task_client --address unix:///path [--version 3|2] [--namespace NS] [--timeout SECONDS]\n"
    "                        COMMAND [flags]\n"
    "commands: connect create start state pids exec kill wait delete stats shutdown pause resume\n"
    "          close-io resize update\n"
    "flags:    --id ID  --exec-id ID  --bundle DIR  --stdin PATH  --stdout PATH  --stderr PATH  --terminal\n"
    "          --rootfs TYPE:SOURCE[:OPT,OPT...] (repeatable)  --runtime-config-path PATH (create)\n"
    "          --spec JSON|@FILE (exec: OCI Process)  --resources JSON|@FILE (update: LinuxResources)\n"
    "          --annotation K=V (update, repeatable)  --signal N  --all  --now  --width N  --height N\n"
    "--timeout 0 means no deadline; the default is 60 s, except for wait, which has none.\n";

struct Flags {
  std::string address;
  int version = 3;
  std::string name_space = "default";
  long timeout_seconds = -1;  // -1: the command's default
  std::string command;
  std::string id, exec_id, bundle, stdin_path, stdout_path, stderr_path;
  bool terminal = false, all = false, now = false;
  std::vector<std::string> rootfs;
  std::string runtime_config_path, spec, resources;
  std::vector<std::string> annotations;
  uint32_t signal = 15, width = 0, height = 0;
};

[[noreturn]] void UsageError(const std::string& message) {
  std::cerr << "grpc_task_client: " << message << "\n" << kUsage;
  std::exit(2);
}

uint32_t ParseUint(const std::string& flag, const std::string& value) {
  uint32_t n = 0;
  if (!absl::SimpleAtoi(value, &n)) UsageError(absl::StrCat(flag, " needs a number, got '", value, "'"));
  return n;
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (!absl::StartsWith(arg, "--")) {
      if (!flags.command.empty()) UsageError(absl::StrCat("unexpected argument '", arg, "'"));
      flags.command = arg;
      continue;
    }
    std::string value;
    bool has_inline = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline = true;
    }
    auto take = [&]() -> std::string {
      if (has_inline) return value;
      if (i + 1 >= args.size()) UsageError(absl::StrCat(arg, " needs a value"));
      return args[++i];
    };
    if (arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "--address") {
      flags.address = take();
    } else if (arg == "--version") {
      flags.version = static_cast<int>(ParseUint(arg, take()));
    } else if (arg == "--namespace") {
      flags.name_space = take();
    } else if (arg == "--timeout") {
      flags.timeout_seconds = ParseUint(arg, take());
    } else if (arg == "--id") {
      flags.id = take();
    } else if (arg == "--exec-id") {
      flags.exec_id = take();
    } else if (arg == "--bundle") {
      flags.bundle = take();
    } else if (arg == "--stdin") {
      flags.stdin_path = take();
    } else if (arg == "--stdout") {
      flags.stdout_path = take();
    } else if (arg == "--stderr") {
      flags.stderr_path = take();
    } else if (arg == "--rootfs") {
      flags.rootfs.push_back(take());
    } else if (arg == "--runtime-config-path") {
      flags.runtime_config_path = take();
    } else if (arg == "--spec") {
      flags.spec = take();
    } else if (arg == "--resources") {
      flags.resources = take();
    } else if (arg == "--annotation") {
      flags.annotations.push_back(take());
    } else if (arg == "--signal") {
      flags.signal = ParseUint(arg, take());
    } else if (arg == "--width") {
      flags.width = ParseUint(arg, take());
    } else if (arg == "--height") {
      flags.height = ParseUint(arg, take());
    } else if (arg == "--terminal") {
      flags.terminal = true;
    } else if (arg == "--all") {
      flags.all = true;
    } else if (arg == "--now") {
      flags.now = true;
    } else {
      UsageError(absl::StrCat("unknown flag ", arg));
    }
  }
  if (flags.command.empty()) UsageError("no command");
  if (flags.address.empty()) UsageError("--address is required");
  if (flags.version != 2 && flags.version != 3) UsageError("--version is 2 or 3");
  return flags;
}

// "JSON" or "@file": the text, checked to be JSON (the shim reads it as an OCI document).
std::string JsonArgument(const std::string& flag, const std::string& value) {
  std::string text = value;
  if (absl::StartsWith(value, "@")) {
    std::ifstream in(value.substr(1));
    if (!in) UsageError(absl::StrCat(flag, ": cannot read ", value.substr(1)));
    std::stringstream buffer;
    buffer << in.rdbuf();
    text = buffer.str();
  }
  if (!Json::accept(text)) UsageError(absl::StrCat(flag, ": not valid JSON"));
  return text;
}

Json Timestamp(const google::protobuf::Timestamp& ts) {
  absl::Time t = absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

Json AnyJson(const google::protobuf::Any& any) {
  return Json{{"type_url", any.type_url()}, {"value_base64", absl::Base64Escape(any.value())}};
}

std::string StatusName(containerd::v1::types::Status status) {
  std::string name = containerd::v1::types::Status_Name(status);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

class TaskClient {
 public:
  explicit TaskClient(const Flags& flags) : flags_(flags) {
    std::string target = flags.address;
    if (absl::StartsWith(target, "/")) target = "unix://" + target;
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  }

  // One unary call: `request` to method `name` of the task service; `response` parsed on success.
  grpc::Status Call(const std::string& name, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    long timeout = flags_.timeout_seconds >= 0 ? flags_.timeout_seconds : (name == "Wait" ? 0 : kDefaultTimeoutSeconds);
    if (timeout > 0) context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout));
    context.AddMetadata("containerd-namespace", flags_.name_space);

    std::string bytes = request.SerializeAsString();
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request_buffer(&slice, 1);
    grpc::ByteBuffer response_buffer;
    std::promise<grpc::Status> done;
    std::string method = absl::StrCat("/containerd.task.v", flags_.version, ".Task/", name);
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer, &response_buffer,
                   [&done](grpc::Status status) { done.set_value(std::move(status)); });
    grpc::Status status = done.get_future().get();
    if (!status.ok() || response == nullptr) return status;

    std::vector<grpc::Slice> slices;
    std::string body;
    if (!response_buffer.Dump(&slices).ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "bad response buffer");
    for (const grpc::Slice& s : slices) body.append(reinterpret_cast<const char*>(s.begin()), s.size());
    if (!response->ParseFromString(body)) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "cannot parse " + response->GetTypeName());
    }
    return status;
  }

 private:
  const Flags& flags_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Runs the command; fills `out` with its result fields.
grpc::Status Run(const Flags& f, TaskClient& client, Json& out) {
  const std::string& cmd = f.command;
  google::protobuf::Empty empty;
  if (cmd == "connect") {
    task::ConnectRequest req;
    req.set_id(f.id);
    task::ConnectResponse resp;
    grpc::Status s = client.Call("Connect", req, &resp);
    out["shim_pid"] = resp.shim_pid();
    out["task_pid"] = resp.task_pid();
    out["version"] = resp.version();
    return s;
  }
  if (cmd == "create") {
    task::CreateTaskRequest req;
    req.set_id(f.id);
    req.set_bundle(f.bundle);
    req.set_terminal(f.terminal);
    req.set_stdin(f.stdin_path);
    req.set_stdout(f.stdout_path);
    req.set_stderr(f.stderr_path);
    for (const std::string& spec : f.rootfs) {
      std::vector<std::string> parts = absl::StrSplit(spec, absl::MaxSplits(':', 2));
      if (parts.size() < 2) UsageError("--rootfs is TYPE:SOURCE[:OPT,OPT...]");
      containerd::types::Mount* mount = req.add_rootfs();
      mount->set_type(parts[0]);
      mount->set_source(parts[1]);
      if (parts.size() == 3) {
        for (absl::string_view opt : absl::StrSplit(parts[2], ',', absl::SkipEmpty())) {
          mount->add_options(std::string(opt));
        }
      }
    }
    if (!f.runtime_config_path.empty()) {
      req.mutable_options()->set_type_url(kRuntimeOptionsType);
      runtimeoptions::v1::Options options;
      options.set_config_path(f.runtime_config_path);
      req.mutable_options()->set_value(options.SerializeAsString());
    }
    task::CreateTaskResponse resp;
    grpc::Status s = client.Call("Create", req, &resp);
    out["pid"] = resp.pid();
    return s;
  }
  if (cmd == "start") {
    task::StartRequest req;
    req.set_id(f.id);
    req.set_exec_id(f.exec_id);
    task::StartResponse resp;
    grpc::Status s = client.Call("Start", req, &resp);
    out["pid"] = resp.pid();
    return s;
  }
  if (cmd == "state") {
    task::StateRequest req;
    req.set_id(f.id);
    req.set_exec_id(f.exec_id);
    task::StateResponse resp;
    grpc::Status s = client.Call("State", req, &resp);
    out["id"] = resp.id();
    out["exec_id"] = resp.exec_id();
    out["bundle"] = resp.bundle();
    out["pid"] = resp.pid();
    out["status"] = StatusName(resp.status());
    out["stdin"] = resp.stdin();
    out["stdout"] = resp.stdout();
    out["stderr"] = resp.stderr();
    out["terminal"] = resp.terminal();
    out["exit_status"] = resp.exit_status();
    if (resp.has_exited_at()) out["exited_at"] = Timestamp(resp.exited_at());
    return s;
  }
  if (cmd == "pids") {
    task::PidsRequest req;
    req.set_id(f.id);
    task::PidsResponse resp;
    grpc::Status s = client.Call("Pids", req, &resp);
    Json processes = Json::array();
    for (const auto& p : resp.processes()) {
      Json entry{{"pid", p.pid()}};
      if (p.has_info()) entry["info"] = AnyJson(p.info());
      processes.push_back(entry);
    }
    out["processes"] = processes;
    return s;
  }
  if (cmd == "exec") {
    if (f.spec.empty()) UsageError("exec needs --spec");
    task::ExecProcessRequest req;
    req.set_id(f.id);
    req.set_exec_id(f.exec_id);
    req.set_terminal(f.terminal);
    req.set_stdin(f.stdin_path);
    req.set_stdout(f.stdout_path);
    req.set_stderr(f.stderr_path);
    req.mutable_spec()->set_type_url(kProcessSpecType);
    req.mutable_spec()->set_value(JsonArgument("--spec", f.spec));
    return client.Call("Exec", req, &empty);
  }
  if (cmd == "kill") {
    task::KillRequest req;
    req.set_id(f.id);
    req.set_exec_id(f.exec_id);
    req.set_signal(f.signal);
    req.set_all(f.all);
    return client.Call("Kill", req, &empty);
  }
  if (cmd == "wait") {
    task::WaitRequest req;
    req.set_id(f.id);
    req.set_exec_id(f.exec_id);
    task::WaitResponse resp;
    grpc::Status s = client.Call("Wait", req, &resp);
    out["exit_status"] = resp.exit_status();
    if (resp.has_exited_at()) out["exited_at"] = Timestamp(resp.exited_at());
    return s;
  }
  if (cmd == "delete") {
    task::DeleteRequest req;
    req.set_id(f.id);
    req.set_exec_id(f.exec_id);
    task::DeleteResponse resp;
    grpc::Status s = client.Call("Delete", req, &resp);
    out["pid"] = resp.pid();
    out["exit_status"] = resp.exit_status();
    if (resp.has_exited_at()) out["exited_at"] = Timestamp(resp.exited_at());
    return s;
  }
  if (cmd == "stats") {
    task::StatsRequest req;
    req.set_id(f.id);
    task::StatsResponse resp;
    grpc::Status s = client.Call("Stats", req, &resp);
    if (resp.has_stats()) out["stats"] = AnyJson(resp.stats());
    return s;
  }
  if (cmd == "shutdown") {
    task::ShutdownRequest req;
    req.set_id(f.id);
    req.set_now(f.now);
    return client.Call("Shutdown", req, &empty);
  }
  if (cmd == "pause" || cmd == "resume") {
    if (cmd == "pause") {
      task::PauseRequest req;
      req.set_id(f.id);
      return client.Call("Pause", req, &empty);
    }
    task::ResumeRequest req;
    req.set_id(f.id);
    return client.Call("Resume", req, &empty);
  }
  if (cmd == "close-io") {
    task::CloseIORequest req;
    req.set_id(f.id);
    req.set_exec_id(f.exec_id);
    req.set_stdin(true);
    return client.Call("CloseIO", req, &empty);
  }
  if (cmd == "resize") {
    task::ResizePtyRequest req;
    req.set_id(f.id);
    req.set_exec_id(f.exec_id);
    req.set_width(f.width);
    req.set_height(f.height);
    return client.Call("ResizePty", req, &empty);
  }
  if (cmd == "update") {
    task::UpdateTaskRequest req;
    req.set_id(f.id);
    if (!f.resources.empty()) {
      req.mutable_resources()->set_type_url(kResourcesType);
      req.mutable_resources()->set_value(JsonArgument("--resources", f.resources));
    }
    for (const std::string& kv : f.annotations) {
      std::vector<std::string> parts = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      if (parts.size() != 2) UsageError("--annotation is KEY=VALUE");
      (*req.mutable_annotations())[parts[0]] = parts[1];
    }
    return client.Call("Update", req, &empty);
  }
  UsageError(absl::StrCat("unknown command ", cmd));
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = ParseFlags(argc, argv);
  TaskClient client(flags);
  Json out;
  out["command"] = flags.command;
  grpc::Status status = Run(flags, client, out);
  if (!status.ok()) {
    Json error{{"command", flags.command},
               {"error",
                {{"code", static_cast<int>(status.error_code())},
                 {"name", airlock::test::GrpcCodeName(status.error_code())},
                 {"message", status.error_message()}}}};
    std::cout << error.dump() << std::endl;
    std::cerr << "grpc_task_client: " << flags.command << ": " << airlock::test::GrpcCodeName(status.error_code()) << ": "
              << status.error_message() << "\n";
    return 1;
  }
  std::cout << out.dump() << std::endl;
  return 0;
}
