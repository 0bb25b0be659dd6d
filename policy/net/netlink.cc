#include "policy/net/netlink.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "policy/net/in_netns.h"
#include "shim/base/errno_status.h"

namespace airlock::net {
namespace {

constexpr size_t Align4(size_t n) { return (n + 3) & ~size_t{3}; }
constexpr size_t kHeaderSize = sizeof(nlmsghdr);  // 16, already aligned
constexpr int kMaxEintrRetries = 64;
constexpr absl::string_view kErrnoPayload = "airlock.dev/netlink-errno";

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed netlink message: ", what));
}

}  // namespace

// ---- Parsing ----

absl::StatusOr<std::vector<NlMessageView>> ParseMessages(std::span<const uint8_t> datagram) {
  if (datagram.empty()) return Malformed("empty datagram");
  std::vector<NlMessageView> messages;
  size_t offset = 0;
  while (datagram.size() - offset >= kHeaderSize) {
    nlmsghdr header;
    std::memcpy(&header, datagram.data() + offset, kHeaderSize);
    size_t remaining = datagram.size() - offset;
    if (header.nlmsg_len < kHeaderSize)
      return Malformed(absl::StrCat("length ", header.nlmsg_len, " below header size"));
    if (header.nlmsg_len > remaining) {
      return Malformed(absl::StrCat("length ", header.nlmsg_len, " past the end (", remaining, " bytes left)"));
    }
    messages.push_back(NlMessageView{
        .type = header.nlmsg_type,
        .flags = header.nlmsg_flags,
        .seq = header.nlmsg_seq,
        .port = header.nlmsg_pid,
        .payload = datagram.subspan(offset + kHeaderSize, header.nlmsg_len - kHeaderSize),
    });
    // The last message may come without its alignment padding.
    offset += std::min<size_t>(Align4(header.nlmsg_len), remaining);
  }
  if (offset != datagram.size()) {
    return Malformed(absl::StrCat(datagram.size() - offset, " trailing bytes after the last message"));
  }
  return messages;
}

absl::StatusOr<std::vector<NlAttr>> ParseAttributes(std::span<const uint8_t> data, size_t max_count) {
  std::vector<NlAttr> attrs;
  size_t offset = 0;
  while (data.size() - offset >= 4) {
    uint16_t len;
    uint16_t type;
    std::memcpy(&len, data.data() + offset, 2);
    std::memcpy(&type, data.data() + offset + 2, 2);
    size_t remaining = data.size() - offset;
    if (len < 4) return Malformed(absl::StrCat("attribute length ", len, " below 4"));
    if (len > remaining)
      return Malformed(absl::StrCat("attribute length ", len, " past the end (", remaining, " left)"));
    if (attrs.size() >= max_count) return Malformed(absl::StrCat("more than ", max_count, " attributes"));
    attrs.push_back(
        NlAttr{.type = static_cast<uint16_t>(type & NLA_TYPE_MASK), .data = data.subspan(offset + 4, len - 4)});
    offset += std::min<size_t>(Align4(len), remaining);
  }
  if (offset != data.size())
    return Malformed(absl::StrCat(data.size() - offset, " trailing bytes after the attributes"));
  return attrs;
}

const NlAttr* FindAttr(const std::vector<NlAttr>& attrs, uint16_t type) {
  for (const NlAttr& attr : attrs) {
    if (attr.type == type) return &attr;
  }
  return nullptr;
}

absl::StatusOr<uint8_t> AttrU8(const NlAttr& attr) {
  if (attr.data.size() != 1) return Malformed(absl::StrCat("attribute ", attr.type, ": u8 of size ", attr.data.size()));
  return attr.data[0];
}

absl::StatusOr<uint32_t> AttrU32(const NlAttr& attr) {
  if (attr.data.size() != 4)
    return Malformed(absl::StrCat("attribute ", attr.type, ": u32 of size ", attr.data.size()));
  uint32_t value;
  std::memcpy(&value, attr.data.data(), 4);
  return value;
}

absl::StatusOr<std::string> AttrString(const NlAttr& attr, size_t max_len) {
  const auto* begin = reinterpret_cast<const char*>(attr.data.data());
  const void* nul = std::memchr(begin, '\0', attr.data.size());
  if (nul == nullptr) return Malformed(absl::StrCat("attribute ", attr.type, ": string without NUL"));
  size_t len = static_cast<const char*>(nul) - begin;
  if (len > max_len) return Malformed(absl::StrCat("attribute ", attr.type, ": string longer than ", max_len));
  return std::string(begin, len);
}

absl::Status ReadFamilyHeader(std::span<const uint8_t> payload, void* header, size_t header_size,
                              std::span<const uint8_t>* rest) {
  if (payload.size() < header_size) {
    return Malformed(absl::StrCat("payload of ", payload.size(), " bytes, family header needs ", header_size));
  }
  std::memcpy(header, payload.data(), header_size);
  if (rest != nullptr) *rest = payload.subspan(std::min(Align4(header_size), payload.size()));
  return absl::OkStatus();
}

absl::Status DecodeError(std::span<const uint8_t> payload, uint16_t flags) {
  nlmsgerr err;
  if (payload.size() < sizeof(err)) return Malformed(absl::StrCat("NLMSG_ERROR of ", payload.size(), " bytes"));
  std::memcpy(&err, payload.data(), sizeof(err));
  if (err.error == 0) return absl::OkStatus();
  if (err.error > 0 || err.error < -4095) return Malformed(absl::StrCat("NLMSG_ERROR code ", err.error));
  std::string detail;
  if (flags & NLM_F_ACK_TLVS) {
    // Extended-ack TLVs follow the echoed request: its header only when capped, all of it otherwise.
    size_t echoed = (flags & NLM_F_CAPPED) ? kHeaderSize : err.msg.nlmsg_len;
    size_t tlv_offset = sizeof(int) + Align4(echoed);
    if (echoed >= kHeaderSize && tlv_offset <= payload.size()) {
      auto tlvs = ParseAttributes(payload.subspan(tlv_offset), 64);
      if (tlvs.ok()) {
        if (const NlAttr* msg = FindAttr(*tlvs, NLMSGERR_ATTR_MSG)) {
          auto text = AttrString(*msg, 512);
          if (text.ok() && !text->empty()) detail = *text;
        }
      }
    }
  }
  absl::Status status = ErrnoStatus(-err.error, detail.empty() ? "netlink" : absl::StrCat("netlink (", detail, ")"));
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(-err.error)));
  return status;
}

int NetlinkErrno(const absl::Status& status) {
  auto payload = status.GetPayload(kErrnoPayload);
  int value = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &value)) return 0;
  return value;
}

absl::Status DecodeDone(std::span<const uint8_t> payload) {
  if (payload.size() < sizeof(int)) return absl::OkStatus();
  int code;
  std::memcpy(&code, payload.data(), sizeof(code));
  if (code == 0) return absl::OkStatus();
  if (code > 0 || code < -4095) return Malformed(absl::StrCat("NLMSG_DONE code ", code));
  absl::Status status = ErrnoStatus(-code, "netlink dump");
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(-code)));
  return status;
}

// ---- Building ----

NlRequest::NlRequest(uint16_t type, uint16_t flags) : bytes_(kHeaderSize, 0) {
  nlmsghdr header{};
  header.nlmsg_type = type;
  header.nlmsg_flags = flags;
  std::memcpy(bytes_.data(), &header, kHeaderSize);
}

void NlRequest::Pad() { bytes_.resize(Align4(bytes_.size()), 0); }

void NlRequest::AppendHeader(const void* header, size_t size) {
  const auto* p = static_cast<const uint8_t*>(header);
  bytes_.insert(bytes_.end(), p, p + size);
  Pad();
}

void NlRequest::AddAttr(uint16_t type, const void* data, size_t size) {
  if (size > 0xffff - 4) {
    valid_ = false;
    return;
  }
  uint16_t len = static_cast<uint16_t>(4 + size);
  size_t at = bytes_.size();
  bytes_.resize(at + 4);
  std::memcpy(bytes_.data() + at, &len, 2);
  std::memcpy(bytes_.data() + at + 2, &type, 2);
  const auto* p = static_cast<const uint8_t*>(data);
  bytes_.insert(bytes_.end(), p, p + size);
  Pad();
}

void NlRequest::AddString(uint16_t type, absl::string_view value) {
  std::string with_nul(value);
  AddAttr(type, with_nul.c_str(), with_nul.size() + 1);
}

size_t NlRequest::BeginNested(uint16_t type) {
  size_t token = bytes_.size();
  AddAttr(static_cast<uint16_t>(type | NLA_F_NESTED), nullptr, 0);
  return token;
}

void NlRequest::EndNested(size_t token) {
  if (token + 4 > bytes_.size() || bytes_.size() - token > 0xffff) {
    valid_ = false;
    return;
  }
  uint16_t len = static_cast<uint16_t>(bytes_.size() - token);
  std::memcpy(bytes_.data() + token, &len, 2);
}

uint16_t NlRequest::type() const {
  uint16_t type;
  std::memcpy(&type, bytes_.data() + offsetof(nlmsghdr, nlmsg_type), 2);
  return type;
}

uint16_t NlRequest::flags() const {
  uint16_t flags;
  std::memcpy(&flags, bytes_.data() + offsetof(nlmsghdr, nlmsg_flags), 2);
  return flags;
}

void NlRequest::AddFlags(uint16_t flags) {
  uint16_t merged = static_cast<uint16_t>(this->flags() | flags);
  std::memcpy(bytes_.data() + offsetof(nlmsghdr, nlmsg_flags), &merged, 2);
}

std::span<const uint8_t> NlRequest::Finish(uint32_t seq) {
  uint32_t len = static_cast<uint32_t>(bytes_.size());
  std::memcpy(bytes_.data() + offsetof(nlmsghdr, nlmsg_len), &len, 4);
  std::memcpy(bytes_.data() + offsetof(nlmsghdr, nlmsg_seq), &seq, 4);
  uint32_t pid = 0;  // the kernel fills in our port
  std::memcpy(bytes_.data() + offsetof(nlmsghdr, nlmsg_pid), &pid, 4);
  return bytes_;
}

// ---- Socket ----

absl::StatusOr<NetlinkSocket> NetlinkSocket::Open() {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return ErrnoStatus("socket(NETLINK_ROUTE)");
  int one = 1;
  // Error strings from the kernel, no echo of our request in errors, strict checking of dump
  // requests. Older kernels lack some: not fatal.
  (void)::setsockopt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  (void)::setsockopt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  (void)::setsockopt(fd.get(), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
  timeval timeout = absl::ToTimeval(kReceiveTimeout);
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0) {
    return ErrnoStatus("setsockopt(SO_RCVTIMEO)");
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) return ErrnoStatus("bind(netlink)");
  socklen_t len = sizeof(local);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &len) != 0)
    return ErrnoStatus("getsockname(netlink)");
  // Connected to the kernel: other sockets of the netns can no longer write to our port
  // (ECONNREFUSED). The sender check on receive stays as a second line.
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) != 0)
    return ErrnoStatus("connect(netlink)");
  return NetlinkSocket(std::move(fd), local.nl_pid);
}

absl::StatusOr<NetlinkSocket> NetlinkSocket::OpenInNetns(int netns_fd) {
  if (netns_fd < 0) return absl::InvalidArgumentError("OpenInNetns: no netns fd");
  return MakeInNetns<NetlinkSocket>(netns_fd, [] { return Open(); });
}

absl::Status NetlinkSocket::Send(NlRequest& request, uint32_t seq) {
  if (!request.valid()) return absl::InvalidArgumentError("netlink request: an attribute is too large");
  std::span<const uint8_t> bytes = request.Finish(seq);
  if (bytes.size() > kMaxDatagram) return absl::InvalidArgumentError("netlink request too large");
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (int attempt = 0; attempt < kMaxEintrRetries; ++attempt) {
    ssize_t n =
        ::sendto(fd_.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    if (n == static_cast<ssize_t>(bytes.size())) return absl::OkStatus();
    if (n >= 0) return absl::InternalError("netlink: short send");
    if (errno != EINTR) return ErrnoStatus("netlink send");
  }
  return absl::UnavailableError("netlink send: interrupted too often");
}

absl::StatusOr<size_t> NetlinkSocket::ReceiveFromKernel(int* ignored) {
  // Small to start: the peek below learns each datagram's size and grows it on demand. (A zeroed
  // 64 KiB buffer per socket stayed dirty for the life of every sandbox.)
  if (buffer_.empty()) buffer_.resize(8 * 1024);
  int eintr = 0;
  while (true) {
    sockaddr_nl sender{};
    iovec iov{buffer_.data(), buffer_.size()};
    msghdr msg{};
    msg.msg_name = &sender;
    msg.msg_namelen = sizeof(sender);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    // Peek first: the true size of the datagram, so that it never arrives truncated.
    ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_PEEK | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR && ++eintr < kMaxEintrRetries) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return absl::DeadlineExceededError("netlink: no reply from the kernel in time");
      if (errno == ENOBUFS) return absl::UnavailableError("netlink: receive buffer overrun (ENOBUFS)");
      return ErrnoStatus("netlink receive");
    }
    size_t size = static_cast<size_t>(n);
    if (size > buffer_.size()) {
      if (size > kMaxDatagram)
        return absl::ResourceExhaustedError(absl::StrCat("netlink datagram of ", size, " bytes"));
      buffer_.resize(size);
      continue;
    }
    msg.msg_namelen = sizeof(sender);
    ssize_t got = ::recvmsg(fd_.get(), &msg, 0);
    if (got < 0) {
      if (errno == EINTR && ++eintr < kMaxEintrRetries) continue;
      return ErrnoStatus("netlink receive");
    }
    if (static_cast<size_t>(got) != size || (msg.msg_flags & MSG_TRUNC)) {
      return absl::DataLossError("netlink: datagram changed between peek and receive");
    }
    if (msg.msg_namelen < sizeof(sender) || sender.nl_family != AF_NETLINK || sender.nl_pid != 0) {
      // Not from the kernel: another socket in the same netns may write to our port. Drop it.
      if (++*ignored > kMaxIgnoredMessages) return absl::ResourceExhaustedError("netlink: too many foreign datagrams");
      continue;
    }
    return size;
  }
}

absl::Status NetlinkSocket::Track(absl::Status status) {
  if (!status.ok() && NetlinkErrno(status) == 0) healthy_ = false;
  return status;
}

absl::Status NetlinkSocket::Execute(NlRequest& request, std::vector<NlMessage>* replies) {
  return Track(ExecuteOnce(request, replies));
}

absl::StatusOr<std::vector<NlMessage>> NetlinkSocket::Dump(NlRequest& request) {
  absl::StatusOr<std::vector<NlMessage>> result = DumpOnce(request);
  if (!result.ok()) return Track(result.status());
  return result;
}

absl::Status NetlinkSocket::ExecuteOnce(NlRequest& request, std::vector<NlMessage>* replies) {
  uint32_t seq = ++seq_;
  request.AddFlags(NLM_F_REQUEST | NLM_F_ACK);
  if (absl::Status status = Send(request, seq); !status.ok()) return status;
  int ignored = 0;
  size_t kept = 0;
  while (true) {
    absl::StatusOr<size_t> size = ReceiveFromKernel(&ignored);
    if (!size.ok()) return size.status();
    auto messages = ParseMessages(std::span<const uint8_t>(buffer_.data(), *size));
    if (!messages.ok()) return messages.status();
    for (const NlMessageView& m : *messages) {
      if (m.seq != seq || m.port != port_) {
        if (++ignored > kMaxIgnoredMessages)
          return absl::ResourceExhaustedError("netlink: too many unrelated messages");
        continue;
      }
      if (m.type == NLMSG_ERROR) return DecodeError(m.payload, m.flags);
      if (m.type == NLMSG_NOOP || m.type == NLMSG_DONE) continue;
      if (replies != nullptr) {
        if (++kept > kMaxDumpMessages) return absl::ResourceExhaustedError("netlink: too many replies");
        replies->push_back(NlMessage{m.type, m.flags, std::vector<uint8_t>(m.payload.begin(), m.payload.end())});
      }
    }
  }
}

absl::Status NetlinkSocket::CollectDump(uint32_t seq, std::vector<NlMessage>* out, bool* interrupted, bool* overrun) {
  int ignored = 0;
  while (true) {
    absl::StatusOr<size_t> size = ReceiveFromKernel(&ignored);
    if (!size.ok()) {
      // An overrun loses datagrams but the dump goes on: note it, read on to NLMSG_DONE, retry.
      if (absl::IsUnavailable(size.status()) && !*overrun) {
        *overrun = true;
        continue;
      }
      return size.status();
    }
    auto messages = ParseMessages(std::span<const uint8_t>(buffer_.data(), *size));
    if (!messages.ok()) return messages.status();
    for (const NlMessageView& m : *messages) {
      if (m.seq != seq || m.port != port_) {
        if (++ignored > kMaxIgnoredMessages)
          return absl::ResourceExhaustedError("netlink: too many unrelated messages");
        continue;
      }
      if (m.flags & NLM_F_DUMP_INTR) *interrupted = true;
      if (m.type == NLMSG_DONE) return DecodeDone(m.payload);
      if (m.type == NLMSG_ERROR) return DecodeError(m.payload, m.flags);  // the request was refused
      if (m.type == NLMSG_NOOP) continue;
      if (out->size() >= kMaxDumpMessages) return absl::ResourceExhaustedError("netlink: dump too large");
      out->push_back(NlMessage{m.type, m.flags, std::vector<uint8_t>(m.payload.begin(), m.payload.end())});
    }
  }
}

absl::StatusOr<std::vector<NlMessage>> NetlinkSocket::DumpOnce(NlRequest& request) {
  request.AddFlags(NLM_F_REQUEST | NLM_F_DUMP);
  for (int attempt = 0; attempt < kMaxDumpAttempts; ++attempt) {
    uint32_t seq = ++seq_;
    if (absl::Status status = Send(request, seq); !status.ok()) return status;
    std::vector<NlMessage> messages;
    bool interrupted = false;
    bool overrun = false;
    absl::Status status = CollectDump(seq, &messages, &interrupted, &overrun);
    if (!status.ok()) return status;
    if (!interrupted && !overrun) return messages;
  }
  return absl::UnavailableError(
      absl::StrCat("netlink dump kept changing or overrunning (", kMaxDumpAttempts, " attempts)"));
}

}  // namespace airlock::net
