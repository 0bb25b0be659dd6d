#include "cmd/airlock/run/patch_writer.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "shim/base/terminal_text.h"
#include "shim/base/errno_status.h"
#include "shim/base/unique_fd.h"

namespace airlock::run {
namespace {

// The size of the read, deflate and write buffers: the working set for a file of any size.
constexpr size_t kChunk = 64 << 10;

template <typename T, void (*Free)(T*)>
struct GitFree {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using GitPtr = std::unique_ptr<T, GitFree<T, Free>>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using DiffPtr = GitPtr<git_diff, git_diff_free>;
using OdbPtr = GitPtr<git_odb, git_odb_free>;
using OdbObjectPtr = GitPtr<git_odb_object, git_odb_object_free>;
using OdbStreamPtr = GitPtr<git_odb_stream, git_odb_stream_free>;

absl::Status GitError(absl::string_view what) {
  const git_error* e = git_error_last();
  const char* message = e != nullptr && e->message != nullptr ? e->message : "libgit2 error";
  return absl::InternalError(absl::StrCat(what, ": ", message));
}

absl::string_view ObjectBytes(git_odb_object* object) {
  return {static_cast<const char*>(git_odb_object_data(object)), git_odb_object_size(object)};
}

std::string Hex(const git_oid& id) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof(hex), &id);
  return hex;
}

// Buffered writes to the caller's fd. The first failure sticks and later writes are dropped, so a
// step checks status() once at its end (loops over big content check it as they go).
class FdWriter {
 public:
  explicit FdWriter(int fd) : fd_(fd) { buf_.reserve(kChunk); }

  void Put(absl::string_view s) {
    if (!status_.ok()) return;
    if (buf_.size() + s.size() > kChunk) Flush();
    if (s.size() >= kChunk) {
      WriteAll(s);
    } else {
      buf_.append(s.data(), s.size());
    }
  }
  void Put(char c) { Put(absl::string_view(&c, 1)); }

  void Flush() {
    if (!buf_.empty()) WriteAll(buf_);
    buf_.clear();
  }
  const absl::Status& status() const { return status_; }
  bool ok() const { return status_.ok(); }
  uint64_t written() const { return written_; }

 private:
  void WriteAll(absl::string_view s) {
    while (!s.empty() && status_.ok()) {
      ssize_t n = ::write(fd_, s.data(), s.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        status_ = n < 0 ? ErrnoStatus("writing the patch") : absl::InternalError("writing the patch: write returned 0");
        return;
      }
      written_ += static_cast<uint64_t>(n);
      s.remove_prefix(static_cast<size_t>(n));
    }
  }

  int fd_;
  std::string buf_;
  uint64_t written_ = 0;
  absl::Status status_;
};

// ---- The mail header, as git's pretty.c prints it for format-patch (--pretty=email) ----

// git's isspace(): its ctype table counts neither \v nor \f.
bool GitSpace(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool NonAscii(unsigned char c) { return c >= 0x80 || c == 0x1b; }

size_t LastLineLength(const std::string& s) {
  size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s.size() : s.size() - nl - 1;
}

// Bytes of the valid UTF-8 character at the start of `s` (git's pick_one_utf8_char), 0 if invalid.
size_t Utf8CharLength(absl::string_view s) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  if (s.empty()) return 0;
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    if (s.size() < 2 || (b(1) & 0xc0) != 0x80 || (c & 0x3e) == 0) return 0;
    return 2;
  }
  if ((c & 0xf0) == 0xe0) {
    if (s.size() < 3 || (b(1) & 0xc0) != 0x80 || (b(2) & 0xc0) != 0x80 || (c == 0xe0 && (b(1) & 0xe0) == 0x80) ||
        (c == 0xed && (b(1) & 0xe0) == 0xa0) || (c == 0xef && b(1) == 0xbf && (b(2) & 0xfe) == 0xbe)) {
      return 0;
    }
    return 3;
  }
  if ((c & 0xf8) == 0xf0) {
    if (s.size() < 4 || (b(1) & 0xc0) != 0x80 || (b(2) & 0xc0) != 0x80 || (b(3) & 0xc0) != 0x80 ||
        (c == 0xf0 && (b(1) & 0xf0) == 0x80) || (c == 0xf4 && b(1) > 0x8f) || c > 0xf4) {
      return 0;
    }
    return 4;
  }
  return 0;
}

// git's strbuf_add_wrapped_text, for what reaches it here: ASCII without escape sequences (anything
// else is RFC 2047-encoded instead). A negative indent1 means -indent1 columns are already used.
void AddWrapped(std::string& out, absl::string_view text, int indent1, int indent2, int width) {
  const std::string copy(text);  // git works on a NUL-terminated copy
  const char* p = copy.c_str();
  const char* bol = p;
  const char* space = nullptr;
  int indent = indent1;
  int w = indent1;
  if (indent < 0) {
    w = -indent;
    space = p;
  }
  for (;;) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (c != 0 && !GitSpace(c)) {
      w += (c < 0x20 || c == 0x7f) ? -1 : 1;  // git's wcwidth: control characters count -1
      ++p;
      continue;
    }
    bool new_line = !(w <= width || space == nullptr);
    if (!new_line) {
      const char* start = bol;
      if (c == 0 && p == start) return;
      if (space != nullptr) {
        start = space;
      } else {
        out.append(static_cast<size_t>(std::max(indent, 0)), ' ');
      }
      out.append(start, static_cast<size_t>(p - start));
      if (c == 0) return;
      space = p;
      if (c == '\t') {
        w |= 0x07;
      } else if (c == '\n') {
        ++space;
        if (*space == '\n') {
          out += '\n';
          new_line = true;
        } else if (!absl::ascii_isalnum(static_cast<unsigned char>(*space))) {
          new_line = true;
        } else {
          out += ' ';
        }
      }
      if (!new_line) {
        ++w;
        ++p;
        continue;
      }
    }
    out += '\n';
    p = bol = space + (GitSpace(static_cast<unsigned char>(*space)) ? 1 : 0);
    space = nullptr;
    w = indent = indent2;
  }
}

enum class Rfc2047 { kSubject, kAddress };

bool NeedsRfc2047(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (NonAscii(c) || c == '\n') return true;
    if (c == '=' && i + 1 < s.size() && s[i + 1] == '?') return true;
  }
  return false;
}

bool Rfc2047Special(unsigned char c, Rfc2047 type) {
  if (NonAscii(c) || c < 0x20 || c > 0x7e) return true;
  if (GitSpace(c) || c == '=' || c == '?' || c == '_') return true;
  if (type != Rfc2047::kAddress) return false;
  return !(absl::ascii_isalnum(c) || c == '!' || c == '*' || c == '+' || c == '-' || c == '/');
}

// RFC 2047 "Q" encoded words of UTF-8 text, folded at 76 columns without splitting a character.
void AddRfc2047(std::string& out, absl::string_view text, Rfc2047 type) {
  constexpr size_t kMaxLine = 76;
  constexpr absl::string_view kOpen = "=?UTF-8?q?";
  size_t line_len = LastLineLength(out) + kOpen.size();
  out.append(kOpen.data(), kOpen.size());
  while (!text.empty()) {
    size_t n = std::max<size_t>(Utf8CharLength(text), 1);
    bool special = n > 1 || Rfc2047Special(static_cast<unsigned char>(text[0]), type);
    size_t encoded = special ? 3 * n : 1;
    if (line_len + encoded + 2 > kMaxLine) {
      absl::StrAppend(&out, "?=\n ", kOpen);
      line_len = kOpen.size() + 1;
    }
    for (size_t i = 0; i < n; ++i) {
      if (special) {
        absl::StrAppendFormat(&out, "=%02X", static_cast<unsigned char>(text[i]));
      } else {
        out += text[i];
      }
    }
    line_len += encoded;
    text.remove_prefix(n);
  }
  out += "?=";
}

bool NeedsRfc822Quoting(absl::string_view s) { return s.find_first_of("()<>[]:;@,.\"\\") != absl::string_view::npos; }

std::string Rfc822Quoted(absl::string_view s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  q += '"';
  return q;
}

std::string Rfc2822Date(const git_time& when) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int minutes = std::abs(when.offset);
  int tz = (minutes / 60) * 100 + minutes % 60;  // the commit's "+HHMM", as a number
  if (when.offset < 0) tz = -tz;
  time_t local = static_cast<time_t>(when.time) + static_cast<time_t>(when.offset) * 60;
  struct tm tm {};
  gmtime_r(&local, &tm);
  return absl::StrFormat("%s, %d %s %d %02d:%02d:%02d %+05d", kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, tz);
}

// Length of `line` without trailing whitespace (git's is_blank_line trims as it tests).
size_t TrimmedLength(absl::string_view line) {
  size_t n = line.size();
  while (n > 0 && GitSpace(static_cast<unsigned char>(line[n - 1]))) --n;
  return n;
}

// One line from the front of `text`, its '\n' included.
absl::string_view TakeLine(absl::string_view& text) {
  size_t nl = text.find('\n');
  size_t n = nl == absl::string_view::npos ? text.size() : nl + 1;
  absl::string_view line = text.substr(0, n);
  text.remove_prefix(n);
  return line;
}

// From the "From <oid>" line to the blank line after the message, byte for byte what format-patch
// prints (pretty_print_commit in email format): the subject is the first paragraph joined with
// spaces, wrapped (or RFC 2047-encoded when not ASCII); trailing whitespace is dropped line by line.
std::string MailHeader(const git_commit* commit, const git_oid& id) {
  const git_signature* author = git_commit_author(commit);
  const char* raw_message = git_commit_message_raw(commit);
  absl::string_view message = raw_message != nullptr ? raw_message : "";
  absl::string_view name = author->name != nullptr ? author->name : "";
  absl::string_view email = author->email != nullptr ? author->email : "";

  std::string out = absl::StrCat("From ", Hex(id), " Mon Sep 17 00:00:00 2001\n", "From: ");
  size_t max_length = 78;
  if (NeedsRfc2047(name)) {
    AddRfc2047(out, name, Rfc2047::kAddress);
    max_length = 76;
  } else if (NeedsRfc822Quoting(name)) {
    AddWrapped(out, Rfc822Quoted(name), -6, 1, static_cast<int>(max_length));
  } else {
    AddWrapped(out, name, -6, 1, static_cast<int>(max_length));
  }
  if (max_length < LastLineLength(out) + email.size() + 3) out += '\n';
  absl::StrAppend(&out, " <", email, ">\n", "Date: ", Rfc2822Date(author->when), "\n");

  absl::string_view rest = message;
  while (!rest.empty()) {  // blank lines before the subject
    absl::string_view probe = rest;
    if (TrimmedLength(TakeLine(probe)) != 0) break;
    rest = probe;
  }
  std::string title;
  while (!rest.empty()) {
    absl::string_view line = TakeLine(rest);
    size_t n = TrimmedLength(line);
    if (n == 0) break;
    if (!title.empty()) title += ' ';
    title.append(line.data(), n);
  }
  out += "Subject: [PATCH] ";
  if (NeedsRfc2047(title)) {
    AddRfc2047(out, title, Rfc2047::kSubject);
  } else {
    AddWrapped(out, title, -static_cast<int>(LastLineLength(out)), 1, 78);
  }
  out += '\n';
  bool eight_bit = false;
  for (char c : message) eight_bit = eight_bit || NonAscii(static_cast<unsigned char>(c));
  if (eight_bit) {
    out += "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n";
  }
  out += '\n';

  size_t body_start = out.size();
  bool first = true;
  while (!rest.empty()) {
    absl::string_view line = TakeLine(rest);
    size_t n = TrimmedLength(line);
    if (n == 0 && first) continue;
    first = false;
    out.append(line.data(), n);
    out += '\n';
  }
  out.resize(TrimmedLength(out));  // git rtrims the whole text, then ends it with one newline
  out += '\n';
  if (out.size() <= body_start) out += '\n';  // and keeps the blank line after the headers
  return out;
}

// ---- Diff headers ----

// "a/path", or "\"a/pa\\th\"" when the path has a byte git quotes (git's quote_two): the prefix
// and the path quoted as one, the way QuotePath quotes any name.
std::string PrefixedPath(absl::string_view prefix, absl::string_view path) { return QuotePath(absl::StrCat(prefix, path)); }

// "--- a/x" / "+++ b/x"; git ends a label holding a space with a tab (for patch(1)).
std::string FileLabel(absl::string_view marker, const std::string& label) {
  return absl::StrCat(marker, " ", label, label.find(' ') != std::string::npos ? "\t\n" : "\n");
}

void WriteDeltaHeader(FdWriter& out, const git_diff_delta& d) {
  const git_diff_file& a = d.old_file;
  const git_diff_file& b = d.new_file;
  std::string h = absl::StrCat("diff --git ", PrefixedPath("a/", a.path), " ", PrefixedPath("b/", b.path), "\n");
  if (d.status == GIT_DELTA_ADDED) {
    absl::StrAppendFormat(&h, "new file mode %06o\n", b.mode);
  } else if (d.status == GIT_DELTA_DELETED) {
    absl::StrAppendFormat(&h, "deleted file mode %06o\n", a.mode);
  } else if (a.mode != b.mode) {
    absl::StrAppendFormat(&h, "old mode %06o\nnew mode %06o\n", a.mode, b.mode);
  }
  if (!git_oid_equal(&a.id, &b.id)) {
    absl::StrAppend(&h, "index ", Hex(a.id), "..", Hex(b.id));
    if (a.mode == b.mode) absl::StrAppendFormat(&h, " %06o", a.mode);
    h += '\n';
  }
  out.Put(h);
}

// ---- Binary hunks: deflated bytes in base85 lines, as git's emit_binary_diff_body ----

void Base85(const unsigned char* data, size_t n, std::string& out) {
  static constexpr char kDigits[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";
  while (n > 0) {
    uint32_t acc = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {  // a short last group is zero-padded
      acc |= static_cast<uint32_t>(*data++) << shift;
      if (--n == 0) break;
    }
    char group[5];
    for (int i = 4; i >= 0; --i) {
      group[i] = kDigits[acc % 85];
      acc /= 85;
    }
    out.append(group, 5);
  }
}

// Cuts a stream of deflated bytes into lines of up to 52 bytes: a length letter ('A'..'Z' = 1..26,
// 'a'..'z' = 27..52), the bytes in base85, '\n'.
class BinaryLines {
 public:
  explicit BinaryLines(FdWriter& out) : out_(out) {}
  void Add(const unsigned char* p, size_t n) {
    while (n > 0) {
      size_t take = std::min(n, kLine - pending_);
      std::copy(p, p + take, line_ + pending_);
      pending_ += take;
      p += take;
      n -= take;
      if (pending_ == kLine) EmitLine();
    }
  }
  void Finish() {
    if (pending_ > 0) EmitLine();
  }

 private:
  static constexpr size_t kLine = 52;
  void EmitLine() {
    text_.clear();
    text_ += static_cast<char>(pending_ <= 26 ? 'A' + pending_ - 1 : 'a' + pending_ - 27);
    Base85(line_, pending_, text_);
    text_ += '\n';
    out_.Put(text_);
    pending_ = 0;
  }
  FdWriter& out_;
  unsigned char line_[kLine];
  size_t pending_ = 0;
  std::string text_;
};

// A hunk libgit2 computed (literal or delta, already deflated).
void WriteBinaryHunk(FdWriter& out, const git_diff_binary_file& f) {
  out.Put(absl::StrCat(f.type == GIT_DIFF_BINARY_DELTA ? "delta " : "literal ", f.inflatedlen, "\n"));
  BinaryLines lines(out);
  lines.Add(reinterpret_cast<const unsigned char*>(f.data), f.datalen);
  lines.Finish();
  out.Put('\n');
}

// ---- Blob content in chunks, for the literal of a big file ----

// Memory stays at a few chunks whatever the blob's size, by the first source that has the blob:
//  1. the loose object file in the repository's own objects directory (where airlock writes the
//     changed blobs), read() and inflated here chunk by chunk;
//  2. git_odb_open_rstream (loose objects elsewhere, e.g. in the user's repository through
//     objects/info/alternates): inflates as it goes too, but maps the whole compressed file, so the
//     RSS grows by its size in clean page-cache pages (reclaimable, yet counted) - hence 1;
//  3. git_odb_read, the whole object in memory: the only way libgit2 reads a packed object (one
//     already packed in the user's repository). Rare for a big changed file, and bounded by its size.
class BlobReader {
 public:
  BlobReader() = default;
  BlobReader(const BlobReader&) = delete;
  BlobReader& operator=(const BlobReader&) = delete;
  ~BlobReader() {
    if (inflating_) inflateEnd(&z_);
  }

  absl::Status Open(git_repository* repo, git_odb* odb, const git_oid& id, uint64_t size) {
    id_ = Hex(id);
    size_ = size;
    if (absl::StatusOr<bool> loose = OpenLoose(repo); !loose.ok() || *loose) return loose.status();
    git_odb_stream* stream = nullptr;
    size_t len = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    if (git_odb_open_rstream(&stream, &len, &type, odb, &id) == 0) {
      stream_.reset(stream);
      return CheckHeader(type == GIT_OBJECT_BLOB ? "blob" : "not a blob", len);
    }
    git_error_clear();
    git_odb_object* object = nullptr;
    if (git_odb_read(&object, odb, &id) != 0) return GitError(absl::StrCat("reading blob ", id_));
    whole_.reset(object);
    return CheckHeader(git_odb_object_type(object) == GIT_OBJECT_BLOB ? "blob" : "not a blob",
                       git_odb_object_size(object));
  }

  // The next piece of content; empty at the end (after which the size was checked).
  absl::StatusOr<absl::string_view> Next() {
    absl::StatusOr<absl::string_view> chunk = NextRaw();
    if (!chunk.ok()) return chunk;
    delivered_ += chunk->size();
    if (delivered_ > size_ || (chunk->empty() && delivered_ != size_)) {
      return absl::DataLossError(absl::StrCat("blob ", id_, ": ", delivered_, " bytes read, ", size_, " expected"));
    }
    return chunk;
  }

 private:
  absl::Status CheckHeader(absl::string_view type, uint64_t len) const {
    if (type != "blob" || len != size_) {
      return absl::DataLossError(absl::StrCat("object ", id_, " is a ", type, " of ", len, " bytes, not the ", size_,
                                              "-byte blob of the tree"));
    }
    return absl::OkStatus();
  }

  // True if the loose file is there (and its header read), false to try libgit2.
  absl::StatusOr<bool> OpenLoose(git_repository* repo) {
    git_buf dir = GIT_BUF_INIT;
    if (repo == nullptr || git_repository_item_path(&dir, repo, GIT_REPOSITORY_ITEM_OBJECTS) != 0) {
      git_error_clear();
      return false;
    }
    std::string path(dir.ptr, dir.size);
    git_buf_dispose(&dir);
    if (!path.empty() && path.back() != '/') path += '/';
    absl::StrAppend(&path, id_.substr(0, 2), "/", id_.substr(2));
    fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_) {
      if (errno == ENOENT) return false;
      return ErrnoStatus(absl::StrCat("opening ", path));
    }
    if (inflateInit(&z_) != Z_OK) return absl::ResourceExhaustedError("zlib inflateInit failed");
    inflating_ = true;
    in_.resize(kChunk);
    out_.resize(kChunk);
    // The object starts "blob <size>\0": inflate until the NUL, keep what follows as content.
    size_t got = 0;
    size_t nul = std::string::npos;
    while (nul == std::string::npos) {
      absl::StatusOr<size_t> n = Inflate(out_.data() + got, 64 - got);
      if (!n.ok()) return n.status();
      if (*n == 0) return absl::DataLossError(absl::StrCat(path, ": no object header"));
      nul = absl::string_view(out_.data(), got + *n).find('\0');
      got += *n;
      if (nul == std::string::npos && got == 64) return absl::DataLossError(absl::StrCat(path, ": bad object header"));
    }
    absl::string_view header(out_.data(), nul);
    uint64_t len = 0;
    size_t space = header.find(' ');
    if (space == absl::string_view::npos || !absl::SimpleAtoi(header.substr(space + 1), &len)) {
      return absl::DataLossError(absl::StrCat(path, ": bad object header"));
    }
    if (absl::Status s = CheckHeader(header.substr(0, space), len); !s.ok()) return s;
    pending_ = absl::string_view(out_.data() + nul + 1, got - nul - 1);
    return true;
  }

  // Inflates into `dst`; 0 only at the end of the zlib stream.
  absl::StatusOr<size_t> Inflate(char* dst, size_t cap) {
    z_.next_out = reinterpret_cast<Bytef*>(dst);
    z_.avail_out = static_cast<uInt>(cap);
    while (!z_end_ && z_.avail_out == cap) {
      if (z_.avail_in == 0 && !eof_) {
        ssize_t n = ::read(fd_.get(), in_.data(), in_.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ErrnoStatus(absl::StrCat("reading loose object ", id_));
        eof_ = n == 0;
        z_.next_in = reinterpret_cast<Bytef*>(in_.data());
        z_.avail_in = static_cast<uInt>(n);
      }
      int r = inflate(&z_, Z_NO_FLUSH);
      if (r == Z_STREAM_END) {
        z_end_ = true;
      } else if (r == Z_BUF_ERROR && eof_ && z_.avail_in == 0) {
        return absl::DataLossError(absl::StrCat("loose object ", id_, " is truncated"));
      } else if (r != Z_OK && r != Z_BUF_ERROR) {
        return absl::DataLossError(
            absl::StrCat("loose object ", id_, ": zlib: ", z_.msg != nullptr ? z_.msg : "error"));
      }
    }
    return cap - z_.avail_out;
  }

  absl::StatusOr<absl::string_view> NextRaw() {
    if (!pending_.empty()) return std::exchange(pending_, absl::string_view());
    if (fd_) {
      absl::StatusOr<size_t> n = Inflate(out_.data(), out_.size());
      if (!n.ok()) return n.status();
      return absl::string_view(out_.data(), *n);
    }
    if (stream_ != nullptr) {
      out_.resize(kChunk);
      int n = git_odb_stream_read(stream_.get(), out_.data(), out_.size());
      if (n < 0) return GitError(absl::StrCat("reading blob ", id_));
      return absl::string_view(out_.data(), static_cast<size_t>(n));
    }
    absl::string_view all = ObjectBytes(whole_.get());
    absl::string_view piece = all.substr(std::min(whole_pos_, all.size()), kChunk);
    whole_pos_ += piece.size();
    return piece;
  }

  std::string id_;
  uint64_t size_ = 0;
  uint64_t delivered_ = 0;
  absl::string_view pending_;
  std::vector<char> out_;
  // 1. loose file
  UniqueFd fd_;
  z_stream z_{};
  bool inflating_ = false;
  bool eof_ = false;
  bool z_end_ = false;
  std::vector<char> in_;
  // 2. libgit2 stream; 3. whole object
  OdbStreamPtr stream_;
  OdbObjectPtr whole_;
  size_t whole_pos_ = 0;
};

// "literal <size>" and the new content deflated in a stream (git's level: Z_BEST_SPEED), so a file
// of any size costs a few chunks of memory. No reverse hunk: it would carry the old content whole,
// and git apply does without it (only `git apply -R` needs it).
absl::Status WriteStreamedLiteral(FdWriter& out, BlobReader* content, uint64_t size) {
  out.Put(absl::StrCat("literal ", size, "\n"));
  z_stream z{};
  if (deflateInit(&z, Z_BEST_SPEED) != Z_OK) return absl::ResourceExhaustedError("zlib deflateInit failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> end(&z, deflateEnd);
  std::vector<unsigned char> buf(kChunk);
  BinaryLines lines(out);
  auto pump = [&](int flush) {
    int r = Z_OK;
    do {
      z.next_out = buf.data();
      z.avail_out = static_cast<uInt>(buf.size());
      r = deflate(&z, flush);
      lines.Add(buf.data(), buf.size() - z.avail_out);
    } while (z.avail_out == 0 && r == Z_OK);
    return r;
  };
  while (content != nullptr && out.ok()) {
    absl::StatusOr<absl::string_view> chunk = content->Next();
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) break;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(chunk->data()));
    z.avail_in = static_cast<uInt>(chunk->size());
    if (int r = pump(Z_NO_FLUSH); r != Z_OK && r != Z_BUF_ERROR) return absl::InternalError("zlib deflate failed");
  }
  if (int r = pump(Z_FINISH); r != Z_STREAM_END) return absl::InternalError("zlib deflate did not finish");
  lines.Finish();
  out.Put('\n');
  return out.status();
}

// ---- One file's diff ----

struct DeltaOutput {
  FdWriter* out;
  std::string minus;  // the "--- " and "+++ " lines, written before the first hunk
  bool hunk_seen = false;
  int64_t insertions = 0;
  int64_t deletions = 0;
  absl::Status error;
};

int OnBinary(const git_diff_delta*, const git_diff_binary* binary, void* payload) {
  auto* o = static_cast<DeltaOutput*>(payload);
  if (binary->contains_data == 0 || binary->new_file.type == GIT_DIFF_BINARY_NONE ||
      binary->old_file.type == GIT_DIFF_BINARY_NONE) {
    o->error = absl::InternalError("libgit2 gave a binary diff without its data");
    return -1;
  }
  o->out->Put("GIT binary patch\n");
  WriteBinaryHunk(*o->out, binary->new_file);  // forward, then reverse: as git prints them
  WriteBinaryHunk(*o->out, binary->old_file);
  return o->out->ok() ? 0 : -1;
}

int OnHunk(const git_diff_delta*, const git_diff_hunk* hunk, void* payload) {
  auto* o = static_cast<DeltaOutput*>(payload);
  if (!o->hunk_seen) o->out->Put(o->minus);
  o->hunk_seen = true;
  // "@@ -a,b +c,d @@ <function line>": libgit2 cuts the function line at 80 bytes after trimming
  // it, git trims after cutting; trimming again gives git's text.
  absl::string_view header(hunk->header, hunk->header_len);
  if (!header.empty() && header.back() == '\n') header.remove_suffix(1);
  o->out->Put(header.substr(0, TrimmedLength(header)));
  o->out->Put('\n');
  return o->out->ok() ? 0 : -1;
}

int OnLine(const git_diff_delta*, const git_diff_hunk*, const git_diff_line* line, void* payload) {
  auto* o = static_cast<DeltaOutput*>(payload);
  switch (line->origin) {
    case GIT_DIFF_LINE_ADDITION:
      ++o->insertions;
      o->out->Put(line->origin);
      break;
    case GIT_DIFF_LINE_DELETION:
      ++o->deletions;
      o->out->Put(line->origin);
      break;
    case GIT_DIFF_LINE_CONTEXT:
      o->out->Put(line->origin);
      break;
    case GIT_DIFF_LINE_CONTEXT_EOFNL:  // "\n\\ No newline at end of file\n": the text says it all
    case GIT_DIFF_LINE_ADD_EOFNL:
    case GIT_DIFF_LINE_DEL_EOFNL:
      break;
    default:  // headers: written by WriteDeltaHeader and OnHunk
      return 0;
  }
  o->out->Put(absl::string_view(line->content, line->content_len));
  return o->out->ok() ? 0 : -1;
}

struct Side {
  bool exists = false;
  std::string bytes;  // text of a gitlink ("Subproject commit <oid>\n")
  OdbObjectPtr blob;
  absl::string_view data() const {
    return blob != nullptr ? ObjectBytes(blob.get()) : absl::string_view(bytes);
  }
};

// libgit2's text or binary diff of two contents in memory. No repository is passed: its
// attributes (a .gitattributes in the tree, the index, info/attributes), diff drivers and config
// cannot reach the diff, which sees bytes only (binary = a NUL in the first 8000 bytes, as git).
absl::Status WriteContentDiff(FdWriter& out, const git_diff_delta& d, const Side& a, const Side& b, PatchStats& stats) {
  git_diff_options opts;
  git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
  opts.flags = GIT_DIFF_SHOW_BINARY | GIT_DIFF_INDENT_HEURISTIC;  // git's default heuristic
  opts.context_lines = 3;
  opts.interhunk_lines = 0;
  opts.id_abbrev = GIT_OID_HEXSZ;
  DeltaOutput o{.out = &out};
  o.minus = absl::StrCat(FileLabel("---", a.exists ? PrefixedPath("a/", d.old_file.path) : "/dev/null"),
                         FileLabel("+++", b.exists ? PrefixedPath("b/", d.new_file.path) : "/dev/null"));
  absl::string_view old_data = a.data();
  absl::string_view new_data = b.data();
  int rc = git_diff_buffers(a.exists ? old_data.data() : nullptr, old_data.size(), d.old_file.path,
                            b.exists ? new_data.data() : nullptr, new_data.size(), d.new_file.path, &opts, nullptr,
                            OnBinary, OnHunk, OnLine, &o);
  if (!o.error.ok()) return o.error;
  if (!out.ok()) return out.status();
  if (rc != 0) return GitError(absl::StrCat("diff of ", d.new_file.path));
  stats.insertions += o.insertions;
  stats.deletions += o.deletions;
  return absl::OkStatus();
}

struct Context {
  git_repository* repo;
  git_odb* odb;
  const PatchOptions& options;
  FdWriter& out;
  PatchStats& stats;
};

// xdiff keeps ~100 bytes of records a line: 8 MiB of newlines would cost ~1 GB (in git too). Past
// inline_diff_max / kMinBytesPerLine lines (both sides together) a file goes as a literal, which
// bounds a text diff near 8 x inline_diff_max (content and records).
constexpr uint64_t kMinBytesPerLine = 16;

uint64_t LineCount(absl::string_view data) {
  uint64_t lines = 0;
  for (const char* p = data.data(); (p = static_cast<const char*>(memchr(p, '\n', data.end() - p))) != nullptr; ++p) {
    ++lines;
  }
  return lines + (!data.empty() && data.back() != '\n' ? 1 : 0);
}

absl::StatusOr<uint64_t> BlobSize(git_odb* odb, const git_oid& id) {
  size_t len = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  if (git_odb_read_header(&len, &type, odb, &id) != 0) return GitError(absl::StrCat("reading object ", Hex(id)));
  if (type != GIT_OBJECT_BLOB) return absl::DataLossError(absl::StrCat("object ", Hex(id), " is not a blob"));
  return len;
}

absl::Status WriteDelta(Context& c, const git_diff_delta& d) {
  if (d.status != GIT_DELTA_ADDED && d.status != GIT_DELTA_DELETED && d.status != GIT_DELTA_MODIFIED) {
    return absl::InternalError(absl::StrCat("unexpected change of status ", static_cast<int>(d.status), " for ",
                                            d.new_file.path));
  }
  WriteDeltaHeader(c.out, d);
  if (git_oid_equal(&d.old_file.id, &d.new_file.id)) return c.out.status();  // a mode change only
  Side a, b;
  a.exists = d.status != GIT_DELTA_ADDED;
  b.exists = d.status != GIT_DELTA_DELETED;
  bool big = false;
  uint64_t new_size = 0;
  for (auto [side, file] : {std::pair<Side*, const git_diff_file*>{&a, &d.old_file}, {&b, &d.new_file}}) {
    if (!side->exists) continue;
    if (file->mode == GIT_FILEMODE_COMMIT) {  // a submodule: git diffs this line of text
      side->bytes = absl::StrCat("Subproject commit ", Hex(file->id), "\n");
      continue;
    }
    absl::StatusOr<uint64_t> size = BlobSize(c.odb, file->id);
    if (!size.ok()) return size.status();
    big = big || *size > c.options.inline_diff_max;
    if (side == &b) new_size = *size;
  }
  for (auto [side, file] : {std::pair<Side*, const git_diff_file*>{&a, &d.old_file}, {&b, &d.new_file}}) {
    if (big || !side->exists || file->mode == GIT_FILEMODE_COMMIT) continue;
    git_odb_object* blob = nullptr;
    if (git_odb_read(&blob, c.odb, &file->id) != 0) return GitError(absl::StrCat("reading blob ", Hex(file->id)));
    side->blob.reset(blob);
  }
  if (!big && LineCount(a.data()) + LineCount(b.data()) > c.options.inline_diff_max / kMinBytesPerLine) {
    big = true;  // xdiff's records would cost many times the bytes: a literal, as for a big file
    a.blob.reset();
    b.blob.reset();
  }
  if (big) {
    c.out.Put("GIT binary patch\n");
    if (!b.exists) return WriteStreamedLiteral(c.out, nullptr, 0);
    BlobReader reader;
    if (absl::Status s = reader.Open(c.repo, c.odb, d.new_file.id, new_size); !s.ok()) return s;
    return WriteStreamedLiteral(c.out, &reader, new_size);
  }
  return WriteContentDiff(c.out, d, a, b, c.stats);
}

}  // namespace

absl::StatusOr<PatchStats> WritePatch(git_repository* repo, const git_oid& commit_id, int out_fd,
                                      const PatchOptions& options) {
  git_commit* raw_commit = nullptr;
  if (git_commit_lookup(&raw_commit, repo, &commit_id) != 0) return GitError(absl::StrCat("commit ", Hex(commit_id)));
  CommitPtr commit(raw_commit);
  unsigned parents = git_commit_parentcount(commit.get());
  if (parents > 1) return absl::InvalidArgumentError(absl::StrCat("commit ", Hex(commit_id), " is a merge"));

  git_tree* raw_tree = nullptr;
  if (git_commit_tree(&raw_tree, commit.get()) != 0) return GitError("tree of the commit");
  TreePtr new_tree(raw_tree);
  TreePtr old_tree;  // none for a root commit: everything is added
  if (parents == 1) {
    git_commit* raw_parent = nullptr;
    if (git_commit_parent(&raw_parent, commit.get(), 0) != 0) return GitError("parent of the commit");
    CommitPtr parent(raw_parent);
    if (git_commit_tree(&raw_tree, parent.get()) != 0) return GitError("tree of the parent");
    old_tree.reset(raw_tree);
  }

  // Tree against tree: paths, modes and ids only (no content, no attributes). Without
  // GIT_DIFF_INCLUDE_TYPECHANGE a file <-> symlink change comes as a deletion then an addition, as
  // git prints it; no rename detection runs unless asked for.
  git_diff_options opts;
  git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
  git_diff* raw_diff = nullptr;
  if (git_diff_tree_to_tree(&raw_diff, repo, old_tree.get(), new_tree.get(), &opts) != 0) {
    return GitError("diff of the commit");
  }
  DiffPtr diff(raw_diff);
  git_odb* raw_odb = nullptr;
  if (git_repository_odb(&raw_odb, repo) != 0) return GitError("object database");
  OdbPtr odb(raw_odb);

  PatchStats stats;
  FdWriter out(out_fd);
  out.Put(MailHeader(commit.get(), commit_id));
  out.Put("---\n\n");  // git puts its diffstat between these two lines; airlock's review has its own
  Context context{.repo = repo, .odb = odb.get(), .options = options, .out = out, .stats = stats};
  for (size_t i = 0, n = git_diff_num_deltas(diff.get()); i < n; ++i) {
    if (absl::Status s = WriteDelta(context, *git_diff_get_delta(diff.get(), i)); !s.ok()) return s;
    if (!out.ok()) return out.status();
  }
  out.Flush();
  if (!out.ok()) return out.status();
  stats.bytes_written = out.written();
  return stats;
}

}  // namespace airlock::run
