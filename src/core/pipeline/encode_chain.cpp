#include "pgvault/pipeline/encode_chain.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/encryption.hpp"
#include "pgvault/storage/storage.hpp"

namespace pgvault {

EncodeChain::EncodeChain(Storage& storage, const std::string& directory, const std::string& stem,
                         const EncodeOptions& options)
    : name_(stem + std::string(compression_suffix(options.compression))),
      path_(directory + name_),
      writer_(storage.open_write(path_)),
      object_(*writer_),
      digest_(object_) {
  input_ = &digest_;
  if (options.encryption_key) {
    encryptor_ = make_encryptor(*options.encryption_key, *input_);
    input_ = encryptor_.get();
  }
  if (options.compression != Compression::none) {
    compressor_ = make_compressor(options.compression, options.compression_level, *input_,
                                  options.compression_workers);
    input_ = compressor_.get();
  }
}

EncodeChain::~EncodeChain() = default;

ObjectEntry EncodeChain::finish() {
  if (finished_) throw Error(ErrorKind::internal, "object \"" + path_ + "\" was finished twice");
  finished_ = true;
  input_->finish();  // each stage finishes the next; the object sink commits
  return {name_, digest_.bytes(), digest_.sha256()};
}

}  // namespace pgvault
