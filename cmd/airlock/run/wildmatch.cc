#include "cmd/airlock/run/wildmatch.h"

#include <cstddef>
#include <vector>

namespace airlock::run {
namespace {

// git's dowild() outcomes (and kStar: Scan stopped at a '*'). The two aborts are git's pruning, and
// what keeps backtracking polynomial: once the text ran out under a '*' (kAbortAll), no later
// start of any enclosing '*' can match either; once a lone '*' could not reach past a '/'
// (kAbortToStarStar), only an enclosing '**' may still try further along. The aborts are those of
// git's wildmatch.c after "wildmatch: fix exponential behavior" (2023): the same answers as git
// 2.39, whose wildmatch still lacked some of them and was exponential on e.g. "*a*a*a...b".
enum class Result { kMatch, kNoMatch, kAbortAll, kAbortToStarStar, kStar };

// git's own locale-free ctype (git-compat-util.h): ASCII only, and [:space:] is only
// '\t' '\n' '\r' ' ' (not '\v' or '\f').
bool IsUpper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(unsigned char c) { return c >= 'a' && c <= 'z'; }
bool IsAlpha(unsigned char c) { return IsUpper(c) || IsLower(c); }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsGraph(unsigned char c) { return c > 0x20 && c < 0x7f; }
bool IsGlobSpecial(unsigned char c) { return c == '*' || c == '?' || c == '[' || c == '\\'; }

// -1: not a class name git knows (the whole pattern then fails, as in git).
int InNamedClass(absl::string_view name, unsigned char c) {
  if (name == "alnum") return IsAlpha(c) || IsDigit(c);
  if (name == "alpha") return IsAlpha(c);
  if (name == "blank") return c == ' ' || c == '\t';
  if (name == "cntrl") return c < 0x20 || c == 0x7f;
  if (name == "digit") return IsDigit(c);
  if (name == "graph") return IsGraph(c);
  if (name == "lower") return IsLower(c);
  if (name == "print") return c >= 0x20 && c < 0x7f;
  if (name == "punct") return IsGraph(c) && !IsAlpha(c) && !IsDigit(c);
  if (name == "space") return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  if (name == "upper") return IsUpper(c);
  if (name == "xdigit") return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  return -1;
}

// One match of a pattern against a text. Where git's dowild() recurses at each '*', this keeps an
// explicit stack of the '*'s being tried: its depth is bounded by the pattern's length and lives on
// the heap, whatever the pattern.
class Matcher {
 public:
  Matcher(absl::string_view pattern, absl::string_view text) : p_(pattern), t_(text) {}

  bool Run();

 private:
  // A '*' (or '**') trying the text positions from `t` on; `p` is the pattern just after it.
  struct Star {
    size_t p = 0;
    size_t t = 0;
    bool match_slash = false;  // a '**' standing as a whole path component
    bool probing = false;      // '**/' first tries matching nothing (the rest right after '/')
  };

  // Bytes as git's C strings see them: 0 past the end (the inputs hold no NUL: see WildMatch).
  unsigned char P(size_t i) const { return i < p_.size() ? static_cast<unsigned char>(p_[i]) : 0; }
  unsigned char T(size_t i) const { return i < t_.size() ? static_cast<unsigned char>(t_[i]) : 0; }

  Result Scan(size_t p, size_t t, Star* star) const;
  Result Class(size_t* p, unsigned char t_ch) const;
  bool NextTry(Star& star, size_t* call_p, size_t* call_t, Result* result) const;

  absl::string_view p_;
  absl::string_view t_;
};

// Matches from (p, t) on until the outcome is known, or until a '*' must try several text
// positions: then fills `star` and returns kStar.
Result Matcher::Scan(size_t p, size_t t, Star* star) const {
  for (; P(p) != 0; ++p, ++t) {
    unsigned char p_ch = P(p);
    unsigned char t_ch = T(t);
    if (t_ch == 0 && p_ch != '*') return Result::kAbortAll;
    switch (p_ch) {
      case '\\':
        // The next byte literally; a trailing '\' matches nothing.
        p_ch = P(++p);
        if (p_ch == 0) return Result::kNoMatch;
        [[fallthrough]];
      default:
        if (t_ch != p_ch) return Result::kNoMatch;
        continue;
      case '?':
        if (t_ch == '/') return Result::kNoMatch;
        continue;
      case '[': {
        Result r = Class(&p, t_ch);
        if (r != Result::kMatch) return r;
        continue;
      }
      case '*':
        break;
    }
    size_t first = p;
    bool match_slash = false;
    if (P(++p) == '*') {
      while (P(++p) == '*') {
      }
      // '**' is special only as a whole component: after the start or a '/', before the end or
      // a '/'.
      if ((first == 0 || P(first - 1) == '/') &&
          (P(p) == 0 || P(p) == '/' || (P(p) == '\\' && P(p + 1) == '/'))) {
        match_slash = true;
        if (P(p) == '/') {
          *star = {p, t, true, true};
          return Result::kStar;
        }
      }
    }
    if (P(p) == 0) {
      // A trailing '**' takes everything; a trailing '*' the rest of this component only.
      if (!match_slash && t_.find('/', t) != absl::string_view::npos) {
        return Result::kAbortToStarStar;
      }
      return Result::kMatch;
    }
    if (!match_slash && P(p) == '/') {
      // '*/' takes exactly the rest of this component.
      size_t slash = t_.find('/', t);
      if (slash == absl::string_view::npos) return Result::kAbortAll;
      t = slash;  // the loop's step consumes the '/' of both
      continue;
    }
    *star = {p, t, match_slash, false};
    return Result::kStar;
  }
  return T(t) != 0 ? Result::kNoMatch : Result::kMatch;
}

// A `[...]` at *p against t_ch: kMatch with *p on the closing ']', kNoMatch, or kAbortAll for a
// class that never closes or names an unknown [:class:] (git fails the whole pattern then).
Result Matcher::Class(size_t* pos, unsigned char t_ch) const {
  size_t p = *pos;
  unsigned char p_ch = P(++p);
  if (p_ch == '^') p_ch = '!';
  bool negated = p_ch == '!';
  if (negated) p_ch = P(++p);
  unsigned char prev_ch = 0;  // 0: the byte before cannot start a range
  bool matched = false;
  // The first byte is always a member (so "[]]" holds ']'); ']' closes the class after it.
  do {
    if (p_ch == 0) return Result::kAbortAll;
    if (p_ch == '\\') {
      p_ch = P(++p);
      if (p_ch == 0) return Result::kAbortAll;
      if (t_ch == p_ch) matched = true;
    } else if (p_ch == '-' && prev_ch != 0 && P(p + 1) != 0 && P(p + 1) != ']') {
      p_ch = P(++p);
      if (p_ch == '\\') {
        p_ch = P(++p);
        if (p_ch == 0) return Result::kAbortAll;
      }
      if (t_ch <= p_ch && t_ch >= prev_ch) matched = true;
      p_ch = 0;  // a range's end starts no range
    } else if (p_ch == '[' && P(p + 1) == ':') {
      size_t name = p + 2;
      size_t end = name;
      while (P(end) != 0 && P(end) != ']') ++end;
      if (P(end) == 0) return Result::kAbortAll;
      if (end == name || P(end - 1) != ':') {
        // No ":]" before the next ']': the '[' is an ordinary member.
        p_ch = '[';
        if (t_ch == p_ch) matched = true;
      } else {
        int in = InNamedClass(p_.substr(name, end - 1 - name), t_ch);
        if (in < 0) return Result::kAbortAll;
        if (in) matched = true;
        p = end;
        p_ch = 0;
      }
    } else if (t_ch == p_ch) {
      matched = true;
    }
    prev_ch = p_ch;
    p_ch = P(++p);
  } while (p_ch != ']');
  *pos = p;
  if (matched == negated || t_ch == '/') return Result::kNoMatch;
  return Result::kMatch;
}

// Moves `star` to its next text position worth trying and names the match to run there, or
// returns false with the star's final outcome in *result.
bool Matcher::NextTry(Star& star, size_t* call_p, size_t* call_t, Result* result) const {
  if (T(star.t) == 0) {
    *result = Result::kAbortAll;
    return false;
  }
  unsigned char next = P(star.p);
  if (!IsGlobSpecial(next)) {
    // A literal follows: skip to its next occurrence (within this component for a lone '*').
    while (T(star.t) != 0 && (star.match_slash || T(star.t) != '/') && T(star.t) != next) ++star.t;
    if (T(star.t) != next) {
      *result = star.match_slash ? Result::kAbortAll : Result::kAbortToStarStar;
      return false;
    }
  }
  *call_p = star.p;
  *call_t = star.t;
  return true;
}

bool Matcher::Run() {
  std::vector<Star> stars;
  size_t call_p = 0;
  size_t call_t = 0;
  bool calling = true;  // else `result` returns to the innermost star
  Result result = Result::kNoMatch;
  for (;;) {
    if (calling) {
      Star star;
      result = Scan(call_p, call_t, &star);
      if (result != Result::kStar) {
        calling = false;
        continue;
      }
      stars.push_back(star);
      if (star.probing) {
        call_p = star.p + 1;
        call_t = star.t;
        continue;
      }
    } else {
      if (stars.empty()) return result == Result::kMatch;
      Star& star = stars.back();
      if (star.probing) {
        star.probing = false;
        // git goes on to try the '**' positions even after the probe's kAbortAll, though then
        // every one fails and the star returns kAbortAll anyway (the same rule as its other
        // aborts). Chains of '**/' make that exponential in git (2.39 and still today);
        // returning at once gives the same answer.
        if (result == Result::kMatch || result == Result::kAbortAll) {
          stars.pop_back();
          continue;
        }
      } else {
        if (result != Result::kNoMatch) {
          // A match, or an abort that reaches past this star (a '**' resumes after a lone '*''s).
          if (!star.match_slash || result != Result::kAbortToStarStar) {
            stars.pop_back();
            continue;
          }
        } else if (!star.match_slash && T(star.t) == '/') {
          result = Result::kAbortToStarStar;
          stars.pop_back();
          continue;
        }
        ++star.t;
      }
    }
    calling = NextTry(stars.back(), &call_p, &call_t, &result);
    if (!calling) stars.pop_back();
  }
}

}  // namespace

bool WildMatch(absl::string_view pattern, absl::string_view text) {
  // git matches C strings: both end at a NUL byte (a file name never holds one).
  pattern = pattern.substr(0, pattern.find('\0'));
  text = text.substr(0, text.find('\0'));
  return Matcher(pattern, text).Run();
}

}  // namespace airlock::run
