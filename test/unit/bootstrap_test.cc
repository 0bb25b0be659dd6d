#include <catch2/catch.hpp>

#include "shim/base/sha256.h"
#include "shim/bootstrap/address.h"
#include "shim/bootstrap/flags.h"

using namespace airlock;
using namespace airlock::bootstrap;

TEST_CASE("sha256 matches the FIPS test vectors", "[sha256]") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(Sha256Hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("flags parse as containerd passes them", "[bootstrap]") {
  auto flags = ParseFlags({"shim", "-namespace", "default", "-address", "/run/containerd/containerd.sock",
                           "-publish-binary", "/usr/bin/containerd", "-id", "c1", "-debug", "start"});
  REQUIRE(flags.ok());
  CHECK(flags->ns == "default");
  CHECK(flags->address == "/run/containerd/containerd.sock");
  CHECK(flags->publish_binary == "/usr/bin/containerd");
  CHECK(flags->id == "c1");
  CHECK(flags->debug);
  CHECK(flags->action == "start");

  auto del = ParseFlags({"shim", "--namespace=k8s.io", "-id=x", "-bundle", "/b", "delete"});
  REQUIRE(del.ok());
  CHECK(del->ns == "k8s.io");
  CHECK(del->bundle == "/b");
  CHECK(del->action == "delete");

  CHECK(ParseFlags({"shim", "-v"})->version);
  CHECK(ParseFlags({"shim", "-info"})->info);
  CHECK(ParseFlags({"shim", "-debug=false", "start"})->debug == false);
}

TEST_CASE("bad flags are clear errors", "[bootstrap]") {
  CHECK(ParseFlags({"shim", "-bogus", "start"}).status().message() == "flag provided but not defined: -bogus");
  CHECK(ParseFlags({"shim", "-id"}).status().message() == "flag needs an argument: -id");
  CHECK(!ParseFlags({"shim", "-debug=maybe"}).ok());
}

TEST_CASE("socket address is stable, short and per group", "[bootstrap]") {
  std::string a = SocketAddress("/run/containerd/containerd.sock", "default", "c1");
  CHECK(a == SocketAddress("/run/containerd/containerd.sock", "default", "c1"));
  CHECK(a != SocketAddress("/run/containerd/containerd.sock", "default", "c2"));
  CHECK(a != SocketAddress("/other/containerd.sock", "default", "c1"));
  CHECK(a.rfind("unix:///run/airlock/s/", 0) == 0);
  CHECK(SocketPath(a).size() < 108);
  CHECK(SocketPath("unix:///x/y") == "/x/y");
  CHECK(SocketPath("abstract")[0] == '\0');
}

TEST_CASE("bootstrap output follows what containerd can read", "[bootstrap]") {
  const std::string addr = "unix:///run/airlock/s/abc";
  const std::string json3 = R"({"version":3,"address":"/run/airlock/s/abc","protocol":"grpc"})";
  const std::string json2 = R"({"version":2,"address":"/run/airlock/s/abc","protocol":"grpc"})";
  // containerd 1.6: no MAX_SHIM_VERSION -> plain ttrpc address, whatever the option says.
  CHECK(BootstrapOutput(Protocol::kAuto, std::nullopt, addr) == addr);
  CHECK(BootstrapOutput(Protocol::kGrpc, std::nullopt, addr) == addr);
  // containerd 1.7 and 2.x advertise 2: auto stays on ttrpc, which both speak.
  CHECK(BootstrapOutput(Protocol::kAuto, 2, addr) == addr);
  // Asked for gRPC: version 3 for containerd 2.x (default), version 2 for 1.7; a bare path.
  CHECK(BootstrapOutput(Protocol::kGrpc, 2, addr) == json3);
  CHECK(BootstrapOutput(Protocol::kGrpc, 2, addr, 2) == json2);
  // A containerd advertising 3 gets gRPC v3 under auto.
  CHECK(BootstrapOutput(Protocol::kAuto, 3, addr) == json3);
  CHECK(BootstrapOutput(Protocol::kAuto, 7, addr) == json3);
  CHECK(BootstrapOutput(Protocol::kTtrpc, 3, addr) == addr);
  CHECK(ParseMaxShimVersion("3") == 3);
  CHECK(ParseMaxShimVersion(nullptr) == std::nullopt);
  CHECK(ParseMaxShimVersion("x") == std::nullopt);
  CHECK(ParseProtocol("GRPC").value() == Protocol::kGrpc);
  CHECK(!ParseProtocol("http").ok());
}
