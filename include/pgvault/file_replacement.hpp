// Replacing a whole local file so that a reader sees its old content or its
// new one, never a part: the content goes to a temporary file in the same
// directory (so that rename() is atomic), which is then renamed over it.
//
// Contract:
//  * On any failure the temporary is removed and Error(io) is thrown naming
//    the file and the system's reason; the file keeps its old content.
//  * durable: the temporary is fsynced before the rename and the directory
//    after it, so the new content survives a crash once this returns.
//  * mode is the new file's, whatever the umask.
//  * Writers that may run at once need temporaries of their own (the
//    caller's choice of `temporary`); the last rename wins.
#pragma once
#include "pgvault/pg_free.hpp"

#include <string>
#include <string_view>
#include <sys/types.h>

namespace pgvault {

struct FileReplacement {
  std::string temporary;  // a path in the same directory as the file
  mode_t mode = 0600;
  bool durable = true;
};

void replace_file(const std::string& path, std::string_view content, const FileReplacement& how);

// The directory part of a path ("." for a bare name).
std::string directory_of(const std::string& path);

// fsync() of a directory, after a rename or unlink in it.
void fsync_directory(const std::string& dir);

}  // namespace pgvault
