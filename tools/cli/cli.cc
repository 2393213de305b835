#include "tools/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <utility>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gvisor::cli {
namespace {

absl::Status Bad(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

// ParseBool reads a boolean flag's value.
std::optional<bool> ParseBool(absl::string_view v) {
  std::string l = absl::AsciiStrToLower(v);
  if (l == "true" || l == "1" || l == "yes") return true;
  if (l == "false" || l == "0" || l == "no") return false;
  return std::nullopt;
}

}  // namespace

FlagSpec AbslFlag(absl::string_view name, std::string value_name,
                  char short_name, std::string default_text) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr) {
    fprintf(stderr, "cli::AbslFlag: no flag --%s\n", std::string(name).c_str());
    abort();
  }
  FlagSpec spec;
  spec.name = std::string(name);
  spec.boolean = flag->IsOfType<bool>();
  spec.value_name =
      spec.boolean ? "" : (value_name.empty() ? "VALUE" : value_name);
  spec.default_text =
      default_text.empty() ? flag->DefaultValue() : std::move(default_text);
  spec.help = flag->Help();
  spec.short_name = short_name;
  const bool integer = flag->IsOfType<int>() || flag->IsOfType<int64_t>() ||
                       flag->IsOfType<uint64_t>() || flag->IsOfType<uint32_t>();
  spec.set = [flag, integer](absl::string_view value) -> absl::Status {
    std::string error;
    if (flag->ParseFrom(value, &error)) return absl::OkStatus();
    if (integer) return Bad("not a whole number in range");
    return Bad(error);
  };
  return spec;
}

absl::StatusOr<Parsed> Parse(const std::vector<FlagSpec>& flags, int argc,
                             char** argv) {
  Parsed out;
  std::vector<std::string> names = {"help", "version"};
  for (const FlagSpec& f : flags) names.push_back(f.name);
  auto find = [&](absl::string_view name) -> const FlagSpec* {
    for (const FlagSpec& f : flags) {
      if (f.name == name) return &f;
    }
    return nullptr;
  };
  auto find_short = [&](char c) -> const FlagSpec* {
    for (const FlagSpec& f : flags) {
      if (f.short_name == c) return &f;
    }
    return nullptr;
  };
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      out.args.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    const bool one_dash = arg[1] != '-';
    absl::string_view body = arg.substr(one_dash ? 1 : 2);
    std::optional<absl::string_view> value;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    // How the user spelled the flag, for messages.
    const std::string spelled = std::string(
        arg.substr(0, arg.size() - (value ? value->size() + 1 : 0)));
    const FlagSpec* spec = nullptr;
    bool negated = false;
    if (one_dash && body.size() == 1) {
      if (body == "h") {
        body = "help";
      } else {
        spec = find_short(body[0]);
        if (spec == nullptr) {
          return Bad(absl::StrCat("unknown flag ", spelled));
        }
      }
    }
    if (spec == nullptr && (body == "help" || body == "version")) {
      if (value.has_value()) {
        return Bad(absl::StrCat("--", body, " takes no value"));
      }
      (body == "help" ? out.help : out.version) = true;
      out.given.insert(std::string(body));
      continue;
    }
    if (spec == nullptr) spec = find(body);
    if (spec == nullptr && absl::StartsWith(body, "no")) {
      const FlagSpec* b = find(body.substr(2));
      if (b != nullptr && b->boolean) {
        spec = b;
        negated = true;
      }
    }
    if (spec == nullptr) {
      std::string message = absl::StrCat("unknown flag ", spelled);
      if (std::optional<std::string> near = Closest(body, names)) {
        absl::StrAppend(&message, " (did you mean --", *near, "?)");
      }
      return Bad(message);
    }
    std::string v;
    if (spec->boolean) {
      if (negated && value.has_value()) {
        return Bad(absl::StrCat(spelled, " takes no value"));
      }
      bool b = !negated;
      if (value.has_value()) {
        std::optional<bool> parsed = ParseBool(*value);
        if (!parsed.has_value()) {
          return Bad(absl::StrCat(spelled, "=", *value,
                                  ": not a boolean (true or false)"));
        }
        b = *parsed;
      }
      v = b ? "true" : "false";
    } else if (value.has_value()) {
      v = std::string(*value);
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      return Bad(absl::StrCat(spelled, " needs a value (", spelled, "=",
                              spec->value_name, ")"));
    }
    if (absl::Status s = spec->set(v); !s.ok()) {
      return Bad(absl::StrCat("--", spec->name, "=", v, ": ", s.message()));
    }
    out.given.insert(spec->name);
  }
  return out;
}

std::string Wrap(absl::string_view text, size_t indent, size_t width) {
  std::string out;
  const std::string pad(indent, ' ');
  for (absl::string_view para : absl::StrSplit(text, '\n')) {
    std::string line = pad;
    for (absl::string_view word :
         absl::StrSplit(para, ' ', absl::SkipEmpty())) {
      if (line.size() > indent && line.size() + 1 + word.size() > width) {
        absl::StrAppend(&out, line, "\n");
        line = pad;
      }
      if (line.size() > indent) line.push_back(' ');
      absl::StrAppend(&line, word);
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string FormatFlags(const std::vector<FlagSpec>& flags,
                        absl::string_view title, bool builtin) {
  std::string out = absl::StrCat(title, "\n");
  auto one = [&](const std::string& spelled, const std::string& help) {
    absl::StrAppend(&out, "  ", spelled, "\n", Wrap(help, 6));
  };
  for (const FlagSpec& f : flags) {
    std::string spelled;
    if (f.short_name != 0)
      absl::StrAppend(&spelled, "-", std::string(1, f.short_name), ", ");
    absl::StrAppend(&spelled, "--", f.name);
    if (!f.boolean) absl::StrAppend(&spelled, "=", f.value_name);
    std::string help = f.help;
    if (!help.empty()) help[0] = absl::ascii_toupper(help[0]);
    if (!help.empty() && help.back() != '.') help.push_back('.');
    absl::StrAppend(&help, " (default: ",
                    f.default_text.empty() ? "none" : f.default_text, ")");
    one(spelled, help);
  }
  if (!builtin) return out;
  one("-h, --help", "Print this help and exit.");
  one("--version",
      "Print the version and the gVisor release whose LISAFS wire format "
      "it was tested against, and exit.");
  return out;
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min(
          {row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::optional<std::string> Closest(absl::string_view word,
                                   const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = 3;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_distance && d < std::max<size_t>(c.size(), 2)) {
      best = c;
      best_distance = d;
    }
  }
  if (best.has_value() || word.empty()) return best;
  for (const std::string& c : candidates) {
    if (absl::StartsWith(c, word)) return c;
  }
  return std::nullopt;
}

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view name,
                                             absl::string_view value,
                                             bool allow_zero) {
  const std::string prefix = absl::StrCat("--", name, "=", value, ": ");
  double number;
  const bool bare_number =
      !value.empty() &&
      value.find_first_not_of("0123456789.+-") == absl::string_view::npos &&
      absl::SimpleAtod(value, &number);
  if (bare_number && number != 0) {
    return Bad(absl::StrCat(prefix, "a duration needs a unit, e.g. ", value,
                            "s or ", value, "ms (units: ns, us, ms, s, m, h)"));
  }
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d == absl::InfiniteDuration() ||
      d == -absl::InfiniteDuration()) {
    return Bad(
        absl::StrCat(prefix,
                     "not a duration; use a number and a unit, e.g. 10s, 500ms "
                     "or 1m30s (units: ns, us, ms, s, m, h)"));
  }
  if (d < absl::ZeroDuration() || (!allow_zero && d == absl::ZeroDuration())) {
    return Bad(absl::StrCat(
        prefix, allow_zero ? "must not be negative" : "must be positive"));
  }
  return d;
}

int UsageError(absl::string_view program, absl::string_view message,
               absl::string_view hint) {
  std::string out = absl::StrCat(program, ": ", message, "\n");
  if (!hint.empty()) absl::StrAppend(&out, hint, "\n");
  fputs(out.c_str(), stderr);
  return kExitUsage;
}

}  // namespace gvisor::cli
