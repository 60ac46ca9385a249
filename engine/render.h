// Diagnostics as people and programs read them: compiler-style text with the source line and a
// caret, or JSON objects.
#pragma once

#include <string>
#include <vector>

#include "engine/policy.h"

namespace authpolicy {

// "file:line:col: error[E003]: message", the source line, a caret, then "note:" lines.
std::string render_text(const Diagnostic& diagnostic, const std::vector<SourceFile>& files);

// The file path a diagnostic points into ("" when it has none).
std::string diagnostic_path(const Diagnostic& diagnostic, const std::vector<SourceFile>& files,
                            const std::string& fallback);

}  // namespace authpolicy
