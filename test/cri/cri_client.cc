// cri_client: one CRI call (runtime.v1) to a containerd's CRI plugin, as the kubelet makes it.
//
//   cri_client --address unix:///path/containerd.sock [--timeout SECONDS] METHOD [JSON]
//
// METHOD is a RuntimeService or ImageService method of test/cri/cri_subset.proto (RunPodSandbox,
// CreateContainer, ExecSync, ImageStatus, ...); JSON its request in proto3 JSON (field names as in
// the .proto or lowerCamelCase; default "{}"). Prints the response as one JSON line (proto field
// names, enums by name, bytes in base64). An RPC error prints {"error":{"code":N,"name":..,"message":..}}
// and exits 1; usage and JSON errors exit 2.
#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>
#include <nlohmann/json.hpp>

#include "cri_subset.pb.h"
#include "test/tools/grpc_code_name.h"

namespace {

namespace cri = runtime::v1;
using google::protobuf::Message;

constexpr int kMaxMessageBytes = 16 << 20;  // the kubelet's default
constexpr long kDefaultTimeoutSeconds = 120;

const char* const kUsage =
    "usage: cri_client --address unix:///path [--timeout SECONDS] METHOD [JSON]\n"
    "methods: Version RunPodSandbox StopPodSandbox RemovePodSandbox PodSandboxStatus CreateContainer\n"
    "         StartContainer StopContainer RemoveContainer ContainerStatus ListContainers ExecSync\n"
    "         ContainerStats UpdateContainerResources ImageStatus\n";

struct Method {
  const char* service;
  std::unique_ptr<Message> (*request)();
  std::unique_ptr<Message> (*response)();
};

template <typename T>
std::unique_ptr<Message> Make() {
  return std::make_unique<T>();
}

const std::map<std::string, Method>& Methods() {
  static const auto* methods = new std::map<std::string, Method>{
      {"Version", {"RuntimeService", Make<cri::VersionRequest>, Make<cri::VersionResponse>}},
      {"RunPodSandbox", {"RuntimeService", Make<cri::RunPodSandboxRequest>, Make<cri::RunPodSandboxResponse>}},
      {"StopPodSandbox", {"RuntimeService", Make<cri::StopPodSandboxRequest>, Make<cri::StopPodSandboxResponse>}},
      {"RemovePodSandbox",
       {"RuntimeService", Make<cri::RemovePodSandboxRequest>, Make<cri::RemovePodSandboxResponse>}},
      {"PodSandboxStatus",
       {"RuntimeService", Make<cri::PodSandboxStatusRequest>, Make<cri::PodSandboxStatusResponse>}},
      {"CreateContainer", {"RuntimeService", Make<cri::CreateContainerRequest>, Make<cri::CreateContainerResponse>}},
      {"StartContainer", {"RuntimeService", Make<cri::StartContainerRequest>, Make<cri::StartContainerResponse>}},
      {"StopContainer", {"RuntimeService", Make<cri::StopContainerRequest>, Make<cri::StopContainerResponse>}},
      {"RemoveContainer", {"RuntimeService", Make<cri::RemoveContainerRequest>, Make<cri::RemoveContainerResponse>}},
      {"ContainerStatus", {"RuntimeService", Make<cri::ContainerStatusRequest>, Make<cri::ContainerStatusResponse>}},
      {"ListContainers", {"RuntimeService", Make<cri::ListContainersRequest>, Make<cri::ListContainersResponse>}},
      {"ExecSync", {"RuntimeService", Make<cri::ExecSyncRequest>, Make<cri::ExecSyncResponse>}},
      {"ContainerStats", {"RuntimeService", Make<cri::ContainerStatsRequest>, Make<cri::ContainerStatsResponse>}},
      {"UpdateContainerResources",
       {"RuntimeService", Make<cri::UpdateContainerResourcesRequest>, Make<cri::UpdateContainerResourcesResponse>}},
      {"ImageStatus", {"ImageService", Make<cri::ImageStatusRequest>, Make<cri::ImageStatusResponse>}},
  };
  return *methods;
}

[[noreturn]] void UsageError(const std::string& message) {
  std::cerr << "cri_client: " << message << "\n" << kUsage;
  std::exit(2);
}

grpc::Status Call(const std::string& address, long timeout_seconds, const std::string& method_path,
                  const Message& request, Message* response) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  if (timeout_seconds > 0) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_seconds));
  }
  std::string bytes = request.SerializeAsString();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method_path, grpc::StubOptions(), &request_buffer, &response_buffer,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  grpc::Status status = done.get_future().get();
  if (!status.ok()) return status;
  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "bad response buffer");
  std::string body;
  for (const grpc::Slice& s : slices) body.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (!response->ParseFromString(body)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "cannot parse " + response->GetTypeName());
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::string address, method_name, request_json = "{}";
  long timeout_seconds = kDefaultTimeoutSeconds;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--address" || arg == "--timeout") {
      if (i + 1 >= argc) UsageError(arg + " needs a value");
      std::string value = argv[++i];
      if (arg == "--address") {
        address = value;
      } else {
        char* end = nullptr;
        timeout_seconds = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || timeout_seconds < 0) UsageError("--timeout needs seconds, got " + value);
      }
    } else if (arg.rfind("--", 0) == 0) {
      UsageError("unknown flag " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (address.empty()) UsageError("--address is required");
  if (address[0] == '/') address = "unix://" + address;
  if (positional.empty() || positional.size() > 2) UsageError("expected METHOD [JSON]");
  method_name = positional[0];
  if (positional.size() == 2) request_json = positional[1];
  auto found = Methods().find(method_name);
  if (found == Methods().end()) UsageError("unknown method " + method_name);
  const Method& method = found->second;

  std::unique_ptr<Message> request = method.request();
  std::unique_ptr<Message> response = method.response();
  google::protobuf::util::JsonParseOptions parse_options;
  if (auto parsed = google::protobuf::util::JsonStringToMessage(request_json, request.get(), parse_options);
      !parsed.ok()) {
    std::cerr << "cri_client: " << method_name << " request: " << parsed.ToString() << "\n";
    return 2;
  }
  std::string path = "/runtime.v1." + std::string(method.service) + "/" + method_name;
  grpc::Status status = Call(address, timeout_seconds, path, *request, response.get());
  if (!status.ok()) {
    nlohmann::json error = {{"code", static_cast<int>(status.error_code())},
                            {"name", airlock::test::GrpcCodeName(status.error_code())},
                            {"message", status.error_message()}};
    std::cout << nlohmann::json{{"error", error}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << std::endl;
    return 1;
  }
  google::protobuf::util::JsonPrintOptions print_options;
  print_options.preserve_proto_field_names = true;
  std::string out;
  if (auto printed = google::protobuf::util::MessageToJsonString(*response, &out, print_options); !printed.ok()) {
    std::cerr << "cri_client: " << method_name << " response: " << printed.ToString() << "\n";
    return 1;
  }
  std::cout << out << std::endl;
  return 0;
}
