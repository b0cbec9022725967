#include "pgvault/pipeline/sha256.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"

#include <openssl/evp.h>

namespace pgvault {

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
  bool finished = false;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1)
    throw Error(ErrorKind::internal, "could not initialize SHA-256 (OpenSSL)");
}

Sha256::~Sha256() = default;

void Sha256::update(std::span<const std::byte> data) {
  if (impl_->finished) throw Error(ErrorKind::internal, "SHA-256 updated after final_hex()");
  if (data.empty()) return;
  if (EVP_DigestUpdate(impl_->ctx, data.data(), data.size()) != 1)
    throw Error(ErrorKind::internal, "SHA-256 update failed (OpenSSL)");
}

std::string Sha256::final_hex() {
  if (impl_->finished) throw Error(ErrorKind::internal, "SHA-256 finalized twice");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, md, &len) != 1)
    throw Error(ErrorKind::internal, "SHA-256 final failed (OpenSSL)");
  impl_->finished = true;
  return hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.final_hex();
}

void DigestSink::write(std::span<const std::byte> data) {
  hash_.update(data);
  bytes_ += data.size();
  next_.write(data);
}

void DigestSink::finish() {
  hex_ = hash_.final_hex();
  next_.finish();
}

}  // namespace pgvault
