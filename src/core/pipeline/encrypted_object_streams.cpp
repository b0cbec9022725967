// The sealing stream (Encryptor) and the opening stream (Decryptor) of
// encrypted objects, and the key providers the opening stream asks for keys
// (encrypted_object.hpp). AES-256-GCM through OpenSSL 3's EVP ciphers, the
// per-object key through EVP_KDF (HKDF).
#include "pgvault/pipeline/encrypted_object.hpp"

#include "pgvault/error.hpp"
#include "encrypted_object_format.hpp"
#include "encryption_support.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

namespace pgvault {

using namespace encryption_internal;

namespace {

constexpr std::size_t kNonceSize = 12;
constexpr std::string_view kObjectKeyLabel = "pgvault object key v1";

// The per-object key: HKDF-SHA256(key, object salt, label). A fresh key per
// object keeps GCM's nonce and data limits per object, whatever the number of
// objects encrypted with one long-lived key.
void derive_object_key(std::span<const std::byte, kEncryptionKeySize> key,
                       std::span<const std::byte> object_salt, Secret<32>& out) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (!kdf) throw_openssl("fetching HKDF");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (!ctx) throw_openssl("creating an HKDF context");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::byte*>(key.data()),
                                        key.size()),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_SALT, const_cast<std::byte*>(object_salt.data()), object_salt.size()),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_INFO, const_cast<char*>(kObjectKeyLabel.data()), kObjectKeyLabel.size()),
      OSSL_PARAM_construct_end()};
  int ok = EVP_KDF_derive(ctx, out.data(), out.bytes.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) throw_openssl("deriving the object key (HKDF)");
}

// nonce = 4 zero bytes || big-endian chunk index: unique per object key.
std::array<unsigned char, kNonceSize> chunk_nonce(std::uint64_t index) {
  std::array<unsigned char, kNonceSize> nonce{};
  for (int i = 11; i >= 4; --i, index >>= 8) nonce[i] = static_cast<unsigned char>(index & 0xff);
  return nonce;
}

class CipherContext {
 public:
  CipherContext() : ctx_(EVP_CIPHER_CTX_new()) {
    if (!ctx_) throw_openssl("creating a cipher context");
  }
  ~CipherContext() { EVP_CIPHER_CTX_free(ctx_); }  // also wipes the key schedule
  CipherContext(const CipherContext&) = delete;
  CipherContext& operator=(const CipherContext&) = delete;
  EVP_CIPHER_CTX* get() const { return ctx_; }

 private:
  EVP_CIPHER_CTX* ctx_;
};

// The object wants one kind of key (raw or from a passphrase) and was given the other.
[[noreturn]] void throw_key_kind_mismatch(const EncryptionHeader& header) {
  bool wants_passphrase = header.key_origin.derivation == KeyDerivation::scrypt;
  throw Error(ErrorKind::invalid_argument,
              std::string("this object was encrypted with ") +
                  (wants_passphrase ? "a key derived from a passphrase" : "a raw key") +
                  " (key fingerprint " + header.key_fingerprint + "), but " +
                  (wants_passphrase ? "a raw key" : "a passphrase") + " was given: set " +
                  (wants_passphrase ? "pgvault.encryption_passphrase, not "
                                      "pgvault.encryption_key_file,"
                                    : "pgvault.encryption_key_file, not "
                                      "pgvault.encryption_passphrase,") +
                  " to decrypt it");
}

// ---- encryptor ----------------------------------------------------------------

class Encryptor final : public Sink {
 public:
  Encryptor(const EncryptionKey& key, Sink& next, std::size_t chunk_size)
      : next_(next), chunk_size_(chunk_size) {
    validate_chunk_size(chunk_size);
    std::array<std::byte, kObjectSaltSize> object_salt;
    random_bytes(object_salt);
    header_ = build_header(key, static_cast<std::uint32_t>(chunk_size), object_salt);
    Secret<32> object_key;
    derive_object_key(key.secret_bytes(), object_salt, object_key);
    if (EVP_EncryptInit_ex(ctx_.get(), EVP_aes_256_gcm(), nullptr, object_key.data(), nullptr) != 1)
      throw_openssl("initializing AES-256-GCM");
    // Ciphertext and tag of one chunk; in-place for buffered plaintext.
    buffer_.resize(chunk_size + kEncryptionTagSize);
  }

  void write(std::span<const std::byte> data) override {
    check_open();
    while (!data.empty()) {
      // A full chunk is sealed only once more data arrives: until then it may be the last.
      if (filled_ == chunk_size_) seal(buffer_.data(), filled_, false);
      if (filled_ == 0 && data.size() > chunk_size_) {
        // A whole chunk with more after it: encrypt straight from the caller's buffer.
        seal(data.data(), chunk_size_, false);
        data = data.subspan(chunk_size_);
        continue;
      }
      std::size_t n = std::min(chunk_size_ - filled_, data.size());
      std::memcpy(buffer_.data() + filled_, data.data(), n);
      filled_ += n;
      data = data.subspan(n);
    }
  }

  void finish() override {
    check_open();
    finished_ = true;
    seal(buffer_.data(), filled_, true);  // possibly empty: there is always a final chunk
    next_.finish();
  }

 private:
  void check_open() const {
    if (finished_) throw Error(ErrorKind::internal, "pipeline stage written after finish()");
  }

  void seal(const std::byte* plaintext, std::size_t size, bool final_chunk) {
    if (!header_sent_) {
      next_.write(header_);
      header_sent_ = true;
    }
    EVP_CIPHER_CTX* ctx = ctx_.get();
    auto nonce = chunk_nonce(index_);
    const unsigned char final_flag = final_chunk ? 1 : 0;
    int len = 0;
    if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
        EVP_EncryptUpdate(ctx, nullptr, &len, uc(header_.data()), header_.size()) != 1 ||
        EVP_EncryptUpdate(ctx, nullptr, &len, &final_flag, 1) != 1 ||
        (size > 0 && EVP_EncryptUpdate(ctx, uc(buffer_.data()), &len, uc(plaintext),
                                       static_cast<int>(size)) != 1) ||
        EVP_EncryptFinal_ex(ctx, uc(buffer_.data() + size), &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kEncryptionTagSize, buffer_.data() + size) !=
            1)
      throw_openssl("AES-256-GCM encryption");
    ++index_;
    filled_ = 0;
    next_.write({buffer_.data(), size + kEncryptionTagSize});
  }

  Sink& next_;
  const std::size_t chunk_size_;
  CipherContext ctx_;
  Header header_;
  bool header_sent_ = false;
  std::vector<std::byte> buffer_;
  std::size_t filled_ = 0;  // plaintext bytes waiting in buffer_
  std::uint64_t index_ = 0;
  bool finished_ = false;
};

// ---- decryptor ------------------------------------------------------------------

class Decryptor final : public Sink {
 public:
  Decryptor(KeyProvider provider, Sink& next) : provider_(std::move(provider)), next_(next) {
    if (!provider_) throw Error(ErrorKind::internal, "decryptor created without a key provider");
  }

  void write(std::span<const std::byte> data) override {
    check_usable();
    try {
      consume(data);
    } catch (...) {
      broken_ = true;  // never pass on anything after a failure
      throw;
    }
  }

  void finish() override {
    check_usable();
    finished_ = true;
    if (!opened_) {
      if (header_filled_ == 0)
        throw Error(ErrorKind::corrupt, "encrypted object is empty (expected a " +
                                            std::to_string(kEncryptionHeaderSize) +
                                            "-byte header)");
      parse_header({header_.data(), header_filled_});  // throws: not encrypted or truncated
    }
    if (filled_ == 0)
      throw Error(ErrorKind::corrupt,
                  "encrypted object is truncated: the final chunk is missing (nothing follows "
                  "the header)");
    if (filled_ < kEncryptionTagSize)
      throw Error(ErrorKind::corrupt, "encrypted object is truncated: chunk " +
                                          std::to_string(index_ + 1) + " at byte " +
                                          std::to_string(chunk_offset()) + " has only " +
                                          std::to_string(filled_) + " bytes, less than its " +
                                          std::to_string(kEncryptionTagSize) + "-byte tag");
    open_buffered(true);
    next_.finish();
  }

 private:
  void check_usable() const {
    if (finished_) throw Error(ErrorKind::internal, "pipeline stage written after finish()");
    if (broken_) throw Error(ErrorKind::internal, "decryptor used after it failed");
  }

  std::size_t record_size() const { return chunk_size_ + kEncryptionTagSize; }
  std::uint64_t chunk_offset() const { return kEncryptionHeaderSize + index_ * record_size(); }

  void consume(std::span<const std::byte> data) {
    if (!opened_) {
      std::size_t n = std::min(data.size(), kEncryptionHeaderSize - header_filled_);
      std::memcpy(header_.data() + header_filled_, data.data(), n);
      header_filled_ += n;
      data = data.subspan(n);
      // Fail early on data that is not encrypted at all.
      if (!magic_prefix_matches({header_.data(), header_filled_})) throw_not_encrypted();
      if (header_filled_ < kEncryptionHeaderSize) return;
      open_header();
    }
    while (!data.empty()) {
      // A full record is opened only once more data arrives: until then it may be the last.
      if (filled_ == record_size()) open_buffered(false);
      if (filled_ == 0 && data.size() > record_size()) {
        // A whole record with more after it: decrypt straight from the caller's buffer.
        const std::byte* record = data.data();
        std::size_t size = chunk_size_;
        if (!open_chunk(record, size, record + size, false)) diagnose(record, size, false);
        emit(size);
        data = data.subspan(record_size());
        continue;
      }
      std::size_t n = std::min(record_size() - filled_, data.size());
      std::memcpy(buffer_.data() + filled_, data.data(), n);
      filled_ += n;
      data = data.subspan(n);
    }
  }

  void open_header() {
    ParsedHeader parsed = parse_header(header_);
    const EncryptionHeader& info = parsed.info;
    EncryptionKey key = provider_(info);
    if (key.origin().derivation != info.key_origin.derivation) throw_key_kind_mismatch(info);
    if (info.key_origin.derivation == KeyDerivation::scrypt && key.origin() != info.key_origin)
      throw Error(ErrorKind::invalid_argument,
                  "the key given was derived from the passphrase with another salt or other "
                  "parameters than this object's (another backup's key?): derive it with the "
                  "object's own, e.g. through passphrase_key_provider()");
    if (key.fingerprint() != info.key_fingerprint) {
      bool passphrase = info.key_origin.derivation == KeyDerivation::scrypt;
      throw Error(ErrorKind::invalid_argument,
                  std::string(passphrase ? "the encryption passphrase does not match"
                                         : "the encryption key does not match") +
                      ": this object was encrypted with a key whose fingerprint is " +
                      info.key_fingerprint + "; the given " +
                      (passphrase ? "passphrase gives a key whose fingerprint is "
                                  : "key's fingerprint is ") +
                      key.fingerprint());
    }
    Secret<32> object_key;
    derive_object_key(key.secret_bytes(), parsed.object_salt, object_key);
    if (EVP_DecryptInit_ex(ctx_.get(), EVP_aes_256_gcm(), nullptr, object_key.data(), nullptr) != 1)
      throw_openssl("initializing AES-256-GCM");
    chunk_size_ = info.chunk_size;
    buffer_.resize(record_size());
    opened_ = true;
  }

  void open_buffered(bool final_chunk) {
    std::size_t size = filled_ - kEncryptionTagSize;
    std::byte* ciphertext = buffer_.data();
    if (!open_chunk(ciphertext, size, ciphertext + size, final_chunk)) {
      // Decrypted in place, so the ciphertext is gone; GCM's keystream depends
      // only on key and nonce, so applying it once more brings it back for the diagnosis.
      apply_keystream(ciphertext, size);
      diagnose(ciphertext, size, final_chunk);
    }
    emit(size);
  }

  // Decrypts into buffer_ (possibly in place) and checks the tag; false if it fails.
  bool open_chunk(const std::byte* ciphertext, std::size_t size, const std::byte* tag_at,
                  bool final_chunk) {
    EVP_CIPHER_CTX* ctx = ctx_.get();
    auto nonce = chunk_nonce(index_);
    const unsigned char final_flag = final_chunk ? 1 : 0;
    std::array<std::byte, kEncryptionTagSize> tag;
    std::copy_n(tag_at, tag.size(), tag.begin());
    int len = 0;
    if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
        EVP_DecryptUpdate(ctx, nullptr, &len, uc(header_.data()), header_.size()) != 1 ||
        EVP_DecryptUpdate(ctx, nullptr, &len, &final_flag, 1) != 1 ||
        (size > 0 && EVP_DecryptUpdate(ctx, uc(buffer_.data()), &len, uc(ciphertext),
                                       static_cast<int>(size)) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, tag.size(), tag.data()) != 1)
      throw_openssl("AES-256-GCM decryption");
    bool authentic = EVP_DecryptFinal_ex(ctx, uc(buffer_.data() + size), &len) == 1;
    if (!authentic) ERR_clear_error();
    return authentic;
  }

  void apply_keystream(std::byte* data, std::size_t size) {
    auto nonce = chunk_nonce(index_);
    int len = 0;
    if (EVP_DecryptInit_ex(ctx_.get(), nullptr, nullptr, nullptr, nonce.data()) != 1 ||
        (size > 0 &&
         EVP_DecryptUpdate(ctx_.get(), uc(data), &len, uc(data), static_cast<int>(size)) != 1))
      throw_openssl("AES-256-GCM decryption");
  }

  // A chunk failed authentication: tell truncation and trailing data from tampering
  // by trying the other final flag. Always throws.
  [[noreturn]] void diagnose(const std::byte* ciphertext, std::size_t size, bool final_chunk) {
    const std::string chunk =
        "chunk " + std::to_string(index_ + 1) + " (at byte " + std::to_string(chunk_offset()) + ")";
    if (open_chunk(ciphertext, size, ciphertext + size, !final_chunk)) {
      if (final_chunk)
        throw Error(ErrorKind::corrupt,
                    "encrypted object is truncated: the final chunk is missing (it ends after " +
                        chunk + ")");
      throw Error(ErrorKind::corrupt,
                  "encrypted object has unexpected data after its final " + chunk);
    }
    if (final_chunk && size < chunk_size_)
      throw Error(ErrorKind::corrupt, "encrypted object is truncated or was modified: its last " +
                                          chunk + " failed authentication");
    throw Error(ErrorKind::corrupt, "encrypted object is corrupt: " + chunk +
                                        " failed authentication (tampered with, reordered, or "
                                        "chunks are missing)");
  }

  void emit(std::size_t size) {
    ++index_;
    filled_ = 0;
    if (size > 0) next_.write({buffer_.data(), size});
  }

  KeyProvider provider_;
  Sink& next_;
  CipherContext ctx_;
  Header header_{};
  std::size_t header_filled_ = 0;
  bool opened_ = false;
  std::size_t chunk_size_ = 0;
  std::vector<std::byte> buffer_;  // one record: ciphertext then tag; plaintext after opening
  std::size_t filled_ = 0;
  std::uint64_t index_ = 0;
  bool finished_ = false;
  bool broken_ = false;
};

// The passphrase and the last key derived from it, shared by a provider's copies.
struct PassphraseState {
  std::string passphrase;
  std::mutex mutex;
  std::optional<EncryptionKey> last_key;
  ~PassphraseState() { OPENSSL_cleanse(passphrase.data(), passphrase.size()); }
};

}  // namespace

// ---- stages and key providers -----------------------------------------------------------

std::unique_ptr<Sink> make_encryptor(const EncryptionKey& key, Sink& next, std::size_t chunk_size) {
  return std::make_unique<Encryptor>(key, next, chunk_size);
}

std::unique_ptr<Sink> make_decryptor(KeyProvider provider, Sink& next) {
  return std::make_unique<Decryptor>(std::move(provider), next);
}

KeyProvider key_provider(const EncryptionKey& key) {
  auto shared = std::make_shared<const EncryptionKey>(key.clone());
  return [shared](const EncryptionHeader&) { return shared->clone(); };
}

KeyProvider passphrase_key_provider(std::string passphrase) {
  if (passphrase.empty())
    throw Error(ErrorKind::invalid_argument, "the encryption passphrase is empty");
  auto state = std::make_shared<PassphraseState>();
  state->passphrase.assign(passphrase);
  OPENSSL_cleanse(passphrase.data(), passphrase.size());  // our by-value copy
  return [state](const EncryptionHeader& header) {
    if (header.key_origin.derivation != KeyDerivation::scrypt) throw_key_kind_mismatch(header);
    std::lock_guard lock(state->mutex);
    if (!state->last_key || state->last_key->origin() != header.key_origin)
      state->last_key = derive_key_from_passphrase(state->passphrase, header.key_origin.salt,
                                                   header.key_origin.scrypt);
    return state->last_key->clone();
  };
}

KeyProvider no_key_provider() {
  return [](const EncryptionHeader& header) -> EncryptionKey {
    throw Error(ErrorKind::invalid_argument, missing_key_message(header));
  };
}

std::string missing_key_message(const EncryptionHeader& header) {
  if (header.key_origin.derivation == KeyDerivation::scrypt)
    return "this object is encrypted with a passphrase (key fingerprint " + header.key_fingerprint +
           "), but no encryption key was given: set pgvault.encryption_passphrase to the "
           "passphrase it was encrypted with";
  return "this object is encrypted (key fingerprint " + header.key_fingerprint +
         "), but no encryption key was given: set pgvault.encryption_key_file to the key file it "
         "was encrypted with";
}

EncryptionRecord encryption_record(const EncryptionKey& key) {
  return {"aes-256-gcm", key.fingerprint(),
          key.origin().derivation == KeyDerivation::scrypt ? "scrypt" : "raw"};
}

}  // namespace pgvault
