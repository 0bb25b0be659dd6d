// A small NETLINK_ROUTE client: message building, strict parsing of replies, and a socket with
// request/ack and dump helpers. Parsing never trusts a length field: every malformed buffer is an
// error, never an out-of-bounds read.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "shim/base/unique_fd.h"

namespace airlock::net {

// ---- Parsing (pure functions over bytes; unit-tested on crafted buffers) ----

// One message inside a datagram; `payload` points into the datagram (after the nlmsghdr).
struct NlMessageView {
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t seq = 0;
  uint32_t port = 0;  // nlmsg_pid
  std::span<const uint8_t> payload;
};

// Splits a datagram into messages. Rejects: a header shorter than nlmsghdr, a length below the
// header size or past the end of the datagram, and trailing bytes that are not a whole message.
absl::StatusOr<std::vector<NlMessageView>> ParseMessages(std::span<const uint8_t> datagram);

// One attribute (struct nlattr and struct rtattr share the layout). `type` has the NLA_F_NESTED and
// NLA_F_NET_BYTEORDER bits cleared.
struct NlAttr {
  uint16_t type = 0;
  std::span<const uint8_t> data;
};

// Parses a run of attributes. Rejects lengths below 4 or past the end; padding may be short only
// after the last attribute. At most `max_count` attributes (a bound against hostile input).
absl::StatusOr<std::vector<NlAttr>> ParseAttributes(std::span<const uint8_t> data, size_t max_count = 4096);

// The first attribute of `type`, or nullptr.
const NlAttr* FindAttr(const std::vector<NlAttr>& attrs, uint16_t type);

absl::StatusOr<uint8_t> AttrU8(const NlAttr& attr);
absl::StatusOr<uint32_t> AttrU32(const NlAttr& attr);
// A NUL-terminated string no longer than `max_len` bytes (NUL excluded).
absl::StatusOr<std::string> AttrString(const NlAttr& attr, size_t max_len = 255);

// Copies the fixed family header (ifinfomsg, rtmsg, ...) at the start of a payload; the rest after
// its aligned size goes to `rest`. Errors when the payload is too short.
absl::Status ReadFamilyHeader(std::span<const uint8_t> payload, void* header, size_t header_size,
                              std::span<const uint8_t>* rest);

template <typename T>
absl::StatusOr<T> ReadFamilyHeader(std::span<const uint8_t> payload, std::span<const uint8_t>* rest) {
  T header{};
  absl::Status status = ReadFamilyHeader(payload, &header, sizeof(T), rest);
  if (!status.ok()) return status;
  return header;
}

// Decodes an NLMSG_ERROR payload: OK for an ack (error 0), otherwise a status carrying the errno
// and the kernel's extended-ack message when present.
absl::Status DecodeError(std::span<const uint8_t> payload, uint16_t flags);

// The errno a kernel refusal carried (from DecodeError / NetlinkSocket::Execute), 0 for others.
int NetlinkErrno(const absl::Status& status);

// The integer an NLMSG_DONE carries (0 or -errno), as a status. A payload shorter than an int is
// accepted as success (old kernels).
absl::Status DecodeDone(std::span<const uint8_t> payload);

// ---- Building ----

// A request: nlmsghdr + family header + attributes, 4-byte aligned throughout.
class NlRequest {
 public:
  NlRequest(uint16_t type, uint16_t flags);

  // The fixed family header; call once, before any attribute.
  void AppendHeader(const void* header, size_t size);
  template <typename T>
  void AppendHeader(const T& header) {
    AppendHeader(&header, sizeof(T));
  }

  void AddAttr(uint16_t type, const void* data, size_t size);
  void AddU32(uint16_t type, uint32_t value) { AddAttr(type, &value, sizeof(value)); }
  void AddS32(uint16_t type, int32_t value) { AddAttr(type, &value, sizeof(value)); }
  void AddString(uint16_t type, absl::string_view value);  // with its NUL

  // Nested attributes: BeginNested returns a token for EndNested, which fixes the length.
  size_t BeginNested(uint16_t type);
  void EndNested(size_t token);

  uint16_t type() const;
  uint16_t flags() const;
  void AddFlags(uint16_t flags);

  // Stamps sequence number and total length; the bytes stay valid until the next change.
  std::span<const uint8_t> Finish(uint32_t seq);

  // False when an attribute or a nest outgrew its 16-bit length: such a request is never sent.
  bool valid() const { return valid_; }

 private:
  void Pad();
  std::vector<uint8_t> bytes_;
  bool valid_ = true;
};

// A message received from a dump, owning its payload.
struct NlMessage {
  uint16_t type = 0;
  uint16_t flags = 0;
  std::vector<uint8_t> payload;
};

// ---- Socket ----

// A NETLINK_ROUTE socket. It belongs to the network namespace it was created in, forever: a socket
// for another netns is created by a short-lived thread that joins that netns, so no thread of the
// caller ever changes namespace. Only replies from the kernel (sender port 0) with this socket's
// port and the request's sequence number count; anything else (stale replies, messages forged by a
// process in the same netns) is dropped, within a bound. Not thread-safe.
class NetlinkSocket {
 public:
  // In the calling thread's network namespace.
  static absl::StatusOr<NetlinkSocket> Open();
  // In the network namespace `netns_fd` refers to.
  static absl::StatusOr<NetlinkSocket> OpenInNetns(int netns_fd);

  NetlinkSocket(NetlinkSocket&&) = default;
  NetlinkSocket& operator=(NetlinkSocket&&) = default;

  // Sends the request with NLM_F_ACK and waits for the kernel's ack; a kernel error becomes the
  // status (errno mapped, extended-ack message included). Messages with the request's sequence
  // number before the ack (e.g. the reply to a GET) are appended to `replies` when given.
  absl::Status Execute(NlRequest& request, std::vector<NlMessage>* replies = nullptr);

  // Sends the request with NLM_F_DUMP and collects every message up to NLMSG_DONE. An interrupted
  // dump (NLM_F_DUMP_INTR: the set changed meanwhile) or a receive overrun is retried a few times.
  absl::StatusOr<std::vector<NlMessage>> Dump(NlRequest& request);

  int fd() const { return fd_.get(); }
  uint32_t port() const { return port_; }
  // False after a transport failure (timeout, malformed reply, overrun, bound hit): replies of an
  // abandoned request may still be queued, so the owner should open a new socket. A refusal by the
  // kernel (an errno in NLMSG_ERROR) leaves the socket healthy.
  bool healthy() const { return healthy_; }

  // Bounds for one operation (receive timeout per datagram, datagrams without a matching reply).
  static constexpr absl::Duration kReceiveTimeout = absl::Seconds(5);
  static constexpr int kMaxIgnoredMessages = 1024;
  static constexpr int kMaxDumpAttempts = 4;
  static constexpr size_t kMaxDatagram = 1 << 20;
  static constexpr size_t kMaxDumpMessages = 1 << 16;

 private:
  NetlinkSocket(UniqueFd fd, uint32_t port) : fd_(std::move(fd)), port_(port) {}

  absl::Status ExecuteOnce(NlRequest& request, std::vector<NlMessage>* replies);
  absl::StatusOr<std::vector<NlMessage>> DumpOnce(NlRequest& request);
  absl::Status Send(NlRequest& request, uint32_t seq);
  // One datagram from the kernel into buffer_; returns its size. Datagrams from other senders
  // are skipped (counted against `ignored`).
  absl::StatusOr<size_t> ReceiveFromKernel(int* ignored);
  // Reads until the dump with `seq` ends. `overrun` reports ENOBUFS (caller retries).
  absl::Status CollectDump(uint32_t seq, std::vector<NlMessage>* out, bool* interrupted, bool* overrun);

  // Marks the socket unhealthy when `status` is a transport failure; returns it.
  absl::Status Track(absl::Status status);

  UniqueFd fd_;
  uint32_t port_ = 0;
  bool healthy_ = true;
  uint32_t seq_ = 0;
  std::vector<uint8_t> buffer_;
};

}  // namespace airlock::net
