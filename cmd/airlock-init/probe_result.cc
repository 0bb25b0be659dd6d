#include "cmd/airlock-init/probe_result.h"

#include <cstdio>

namespace airlock::init {

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kHeld:
      return "held";
    case Verdict::kBroken:
      return "broken";
    case Verdict::kError:
      return "error";
    case Verdict::kInfo:
      return "info";
  }
  return "error";
}

bool AllHeld(const std::vector<ProbeResult>& results) {
  for (const ProbeResult& r : results) {
    if (r.verdict == Verdict::kBroken || r.verdict == Verdict::kError) return false;
  }
  return true;
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0.
size_t Utf8SequenceLength(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t len;
  unsigned min;
  unsigned code;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2, min = 0x80, code = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, min = 0x800, code = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, code = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

std::string JsonQuote(const std::string& text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\n') {
      out += "\\n", ++i;
    } else if (c == '\t') {
      out += "\\t", ++i;
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
    } else if (size_t len = Utf8SequenceLength(text, i); len > 0) {
      out.append(text, i, len);
      i += len;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
  return out;
}

std::string ReportJson(const std::vector<ProbeResult>& results) {
  std::string out = "{\"probes\":[";
  for (size_t i = 0; i < results.size(); ++i) {
    const ProbeResult& r = results[i];
    if (i > 0) out += ',';
    out += "{\"name\":" + JsonQuote(r.name) + ",\"result\":" + JsonQuote(VerdictName(r.verdict)) +
           ",\"detail\":" + JsonQuote(r.detail) + "}";
  }
  out += "],\"held\":";
  out += AllHeld(results) ? "true" : "false";
  out += "}\n";
  return out;
}

std::string ReportTable(const std::vector<ProbeResult>& results) {
  size_t width = 5;
  for (const ProbeResult& r : results) width = r.name.size() > width ? r.name.size() : width;
  std::string out;
  int broken = 0, errors = 0;
  for (const ProbeResult& r : results) {
    const char* word = r.verdict == Verdict::kBroken ? "BROKEN" : VerdictName(r.verdict);
    out += r.name + std::string(width + 2 - r.name.size(), ' ') + word + std::string(8 - std::string(word).size(), ' ') +
           r.detail + "\n";
    broken += r.verdict == Verdict::kBroken;
    errors += r.verdict == Verdict::kError;
  }
  if (broken == 0 && errors == 0) {
    out += "airlock holds: every probe held\n";
  } else {
    out += "airlock NOT verified: " + std::to_string(broken) + " broken, " + std::to_string(errors) + " error\n";
  }
  return out;
}

}  // namespace airlock::init
