// AES-256-GCM in authenticated chunks (format and reasoning:
// src/core/pipeline/README.md). All cryptography is OpenSSL 3's: EVP ciphers,
// EVP_KDF (scrypt, HKDF), EVP_Q_mac/EVP_Q_digest, RAND_bytes.
#include "pgvault/pipeline/encryption.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <ostream>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

namespace pgvault {

namespace {

constexpr std::string_view kMagic = "PGVLTENC";
constexpr std::uint8_t kFormatVersion = 1;
constexpr std::uint8_t kCipherAes256GcmHkdfSha256 = 1;
constexpr std::size_t kObjectSaltSize = 32;
constexpr std::size_t kFingerprintSize = 16;
constexpr std::size_t kChecksumSize = 8;
constexpr std::size_t kNonceSize = 12;
constexpr std::uint64_t kMaxScryptMemory = std::uint64_t{1} << 30;

constexpr std::string_view kFingerprintLabel = "pgvault key fingerprint v1";
constexpr std::string_view kObjectKeyLabel = "pgvault object key v1";

// Header layout: offsets of its fields.
namespace at {
constexpr std::size_t magic = 0;
constexpr std::size_t version = 8;
constexpr std::size_t cipher = 9;
constexpr std::size_t derivation = 10;
constexpr std::size_t log2_n = 11;
constexpr std::size_t scrypt_r = 12;
constexpr std::size_t scrypt_p = 16;
constexpr std::size_t chunk_size = 20;
constexpr std::size_t salt = 24;
constexpr std::size_t object_salt = salt + kPassphraseSaltSize;
constexpr std::size_t fingerprint = object_salt + kObjectSaltSize;
constexpr std::size_t checksum = fingerprint + kFingerprintSize;
}  // namespace at
static_assert(at::checksum + kChecksumSize == kEncryptionHeaderSize);

using Header = std::array<std::byte, kEncryptionHeaderSize>;

// Key material on the stack, wiped however the scope is left.
template <std::size_t N>
struct Secret {
  std::array<std::byte, N> bytes{};
  Secret() = default;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
  unsigned char* data() { return reinterpret_cast<unsigned char*>(bytes.data()); }
};

const unsigned char* uc(const std::byte* p) {
  return reinterpret_cast<const unsigned char*>(p);
}
unsigned char* uc(std::byte* p) {
  return reinterpret_cast<unsigned char*>(p);
}

// Internal error with OpenSSL's reason; clears the thread's error queue so a
// stale entry cannot confuse later TLS code (libcurl, libpq) on this thread.
[[noreturn]] void throw_openssl(const std::string& what) {
  unsigned long code = ERR_get_error();
  std::string reason;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    reason = std::string(" (") + buf + ")";
  }
  ERR_clear_error();
  throw Error(ErrorKind::internal, what + " failed (OpenSSL)" + reason);
}

void put_be32(std::byte* out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) out[i] = static_cast<std::byte>(v & 0xff);
}

std::uint32_t get_be32(const std::byte* in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | std::to_integer<std::uint32_t>(in[i]);
  return v;
}

std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (std::byte b : bytes) {
    hex.push_back(digits[std::to_integer<unsigned>(b) >> 4]);
    hex.push_back(digits[std::to_integer<unsigned>(b) & 0xf]);
  }
  return hex;
}

void random_bytes(std::span<std::byte> out) {
  if (RAND_bytes(uc(out.data()), static_cast<int>(out.size())) != 1)
    throw_openssl("generating random bytes");
}

std::array<std::byte, kFingerprintSize> fingerprint_bytes(std::span<const std::byte> key) {
  Secret<32> mac;  // its tail is not public
  std::size_t len = 0;
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                 reinterpret_cast<const unsigned char*>(kFingerprintLabel.data()),
                 kFingerprintLabel.size(), mac.data(), mac.bytes.size(), &len) ||
      len != mac.bytes.size())
    throw_openssl("computing the key fingerprint");
  std::array<std::byte, kFingerprintSize> out;
  std::copy_n(mac.bytes.begin(), out.size(), out.begin());
  return out;
}

std::array<std::byte, kChecksumSize> header_checksum(const Header& header) {
  std::array<unsigned char, 32> digest;
  std::size_t len = 0;
  if (!EVP_Q_digest(nullptr, "SHA256", nullptr, header.data(), at::checksum, digest.data(), &len) ||
      len != digest.size())
    throw_openssl("computing the header checksum");
  std::array<std::byte, kChecksumSize> out;
  std::memcpy(out.data(), digest.data(), out.size());
  return out;
}

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

// ---- header -----------------------------------------------------------------

struct ParsedHeader {
  EncryptionHeader info;
  std::array<std::byte, kObjectSaltSize> object_salt;
};

[[noreturn]] void throw_not_encrypted() {
  throw Error(ErrorKind::corrupt,
              "not a pgvault encrypted object (it does not start with \"PGVLTENC\")");
}

bool magic_prefix_matches(std::span<const std::byte> bytes) {
  std::size_t n = std::min(bytes.size(), kMagic.size());
  return std::memcmp(bytes.data(), kMagic.data(), n) == 0;
}

Header build_header(const EncryptionKey& key, std::uint32_t chunk_size,
                    std::span<const std::byte, kObjectSaltSize> object_salt) {
  Header h{};
  std::memcpy(h.data() + at::magic, kMagic.data(), kMagic.size());
  h[at::version] = std::byte{kFormatVersion};
  h[at::cipher] = std::byte{kCipherAes256GcmHkdfSha256};
  const KeyOrigin& origin = key.origin();
  h[at::derivation] = static_cast<std::byte>(origin.derivation);
  if (origin.derivation == KeyDerivation::scrypt) {
    h[at::log2_n] = std::byte{origin.scrypt.log2_n};
    put_be32(h.data() + at::scrypt_r, origin.scrypt.r);
    put_be32(h.data() + at::scrypt_p, origin.scrypt.p);
    std::copy(origin.salt.begin(), origin.salt.end(), h.begin() + at::salt);
  }
  put_be32(h.data() + at::chunk_size, chunk_size);
  std::copy(object_salt.begin(), object_salt.end(), h.begin() + at::object_salt);
  auto fingerprint = fingerprint_bytes(key.secret_bytes());
  std::copy(fingerprint.begin(), fingerprint.end(), h.begin() + at::fingerprint);
  auto checksum = header_checksum(h);
  std::copy(checksum.begin(), checksum.end(), h.begin() + at::checksum);
  return h;
}

ParsedHeader parse_header(std::span<const std::byte> bytes) {
  if (bytes.empty() || !magic_prefix_matches(bytes)) throw_not_encrypted();
  if (bytes.size() < kEncryptionHeaderSize)
    throw Error(ErrorKind::corrupt, "encrypted object is truncated: it ends inside its header (" +
                                        std::to_string(bytes.size()) + " of " +
                                        std::to_string(kEncryptionHeaderSize) + " bytes)");
  Header h;
  std::copy_n(bytes.begin(), h.size(), h.begin());

  // The version comes before the checksum: a newer format may lay out its header differently.
  auto version = std::to_integer<unsigned>(h[at::version]);
  if (version > kFormatVersion)
    throw Error(ErrorKind::unsupported, "encrypted object has format version " +
                                            std::to_string(version) + "; this pgvault reads " +
                                            std::to_string(kFormatVersion) +
                                            " (a newer pgvault wrote it)");
  auto checksum = header_checksum(h);
  if (!std::equal(checksum.begin(), checksum.end(), h.begin() + at::checksum))
    throw Error(ErrorKind::corrupt,
                "encrypted object is corrupt: its header does not match its checksum");
  if (version != kFormatVersion)
    throw Error(ErrorKind::corrupt, "encrypted object is corrupt: format version " +
                                        std::to_string(version) + " does not exist");
  if (std::to_integer<unsigned>(h[at::cipher]) != kCipherAes256GcmHkdfSha256)
    throw Error(ErrorKind::unsupported,
                "encrypted object uses cipher suite " +
                    std::to_string(std::to_integer<unsigned>(h[at::cipher])) +
                    ", which this pgvault does not know");

  ParsedHeader parsed;
  EncryptionHeader& info = parsed.info;
  info.format_version = static_cast<std::uint8_t>(version);
  auto derivation = std::to_integer<unsigned>(h[at::derivation]);
  if (derivation == static_cast<unsigned>(KeyDerivation::raw_key)) {
    // Nothing else may be set for a raw key.
    bool unused_zero = std::all_of(h.begin() + at::log2_n, h.begin() + at::chunk_size,
                                   [](std::byte b) { return b == std::byte{0}; }) &&
                       std::all_of(h.begin() + at::salt, h.begin() + at::salt + kPassphraseSaltSize,
                                   [](std::byte b) { return b == std::byte{0}; });
    if (!unused_zero)
      throw Error(ErrorKind::corrupt,
                  "encrypted object is corrupt: its header has key derivation parameters for a "
                  "raw key");
  } else if (derivation == static_cast<unsigned>(KeyDerivation::scrypt)) {
    info.key_origin.derivation = KeyDerivation::scrypt;
    info.key_origin.scrypt = {std::to_integer<std::uint8_t>(h[at::log2_n]),
                              get_be32(h.data() + at::scrypt_r), get_be32(h.data() + at::scrypt_p)};
    std::copy_n(h.begin() + at::salt, kPassphraseSaltSize, info.key_origin.salt.begin());
    try {
      validate_scrypt_params(info.key_origin.scrypt);
    } catch (const Error& e) {
      throw Error(ErrorKind::corrupt, std::string("encrypted object is corrupt: ") + e.what());
    }
  } else {
    throw Error(ErrorKind::unsupported, "encrypted object uses key derivation " +
                                            std::to_string(derivation) +
                                            ", which this pgvault does not know");
  }
  info.chunk_size = get_be32(h.data() + at::chunk_size);
  if (info.chunk_size == 0 || info.chunk_size > kMaxEncryptionChunkSize)
    throw Error(ErrorKind::corrupt, "encrypted object is corrupt: its chunk size " +
                                        std::to_string(info.chunk_size) + " is out of range");
  info.key_fingerprint = to_hex({h.data() + at::fingerprint, kFingerprintSize});
  std::copy_n(h.begin() + at::object_salt, kObjectSaltSize, parsed.object_salt.begin());
  return parsed;
}

void validate_chunk_size(std::size_t chunk_size) {
  if (chunk_size == 0 || chunk_size > kMaxEncryptionChunkSize)
    throw Error(ErrorKind::invalid_argument, "encryption chunk size " + std::to_string(chunk_size) +
                                                 " is out of range (allowed: 1.." +
                                                 std::to_string(kMaxEncryptionChunkSize) + ")");
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

// ---- parameters and keys -------------------------------------------------------------

void validate_scrypt_params(const ScryptParams& params) {
  auto describe = [&] {
    return "scrypt parameters N=2^" + std::to_string(params.log2_n) +
           ", r=" + std::to_string(params.r) + ", p=" + std::to_string(params.p);
  };
  if (params.log2_n < 1 || params.log2_n > 24 || params.r < 1 || params.r > 64 || params.p < 1 ||
      params.p > 64)
    throw Error(ErrorKind::invalid_argument,
                describe() + " are out of range (allowed: N=2^1..2^24, r=1..64, p=1..64)");
  // scrypt needs N < 2^(16 r).
  if (params.log2_n >= 16 * params.r)
    throw Error(ErrorKind::invalid_argument,
                describe() + " are invalid: N must be less than 2^(16 r)");
  std::uint64_t memory = 128 * std::uint64_t{params.r} << params.log2_n;  // 128 r N
  if (memory > kMaxScryptMemory)
    throw Error(ErrorKind::invalid_argument,
                describe() + " need " + std::to_string(memory >> 20) + " MiB of memory; at most " +
                    std::to_string(kMaxScryptMemory >> 20) + " MiB are allowed");
}

EncryptionKey EncryptionKey::from_bytes(std::span<const std::byte, kEncryptionKeySize> bytes,
                                        const KeyOrigin& origin) {
  EncryptionKey key;
  if (origin.derivation == KeyDerivation::scrypt) {
    validate_scrypt_params(origin.scrypt);
    key.origin_ = origin;
  }  // a raw key has no parameters: keep the default origin
  std::copy(bytes.begin(), bytes.end(), key.bytes_.begin());
  key.fingerprint_ = to_hex(fingerprint_bytes(key.bytes_));
  return key;
}

EncryptionKey EncryptionKey::generate() {
  Secret<kEncryptionKeySize> bytes;
  random_bytes(bytes.bytes);
  return from_bytes(bytes.bytes);
}

EncryptionKey::~EncryptionKey() {
  wipe();
}

EncryptionKey::EncryptionKey(EncryptionKey&& other) noexcept
    : bytes_(other.bytes_), origin_(other.origin_), fingerprint_(std::move(other.fingerprint_)) {
  other.wipe();
}

EncryptionKey& EncryptionKey::operator=(EncryptionKey&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    origin_ = other.origin_;
    fingerprint_ = std::move(other.fingerprint_);
    other.wipe();
  }
  return *this;
}

void EncryptionKey::wipe() noexcept {
  OPENSSL_cleanse(bytes_.data(), bytes_.size());
  fingerprint_.clear();
}

EncryptionKey EncryptionKey::clone() const {
  EncryptionKey copy;
  auto bytes = secret_bytes();
  std::copy(bytes.begin(), bytes.end(), copy.bytes_.begin());
  copy.origin_ = origin_;
  copy.fingerprint_ = fingerprint_;
  return copy;
}

const std::string& EncryptionKey::fingerprint() const {
  if (fingerprint_.empty())
    throw Error(ErrorKind::internal, "encryption key used after it was moved from");
  return fingerprint_;
}

std::span<const std::byte, kEncryptionKeySize> EncryptionKey::secret_bytes() const {
  fingerprint();  // throws on a moved-from key
  return bytes_;
}

std::ostream& operator<<(std::ostream& out, const EncryptionKey& key) {
  if (key.fingerprint_.empty()) return out << "EncryptionKey(moved from)";
  return out << "EncryptionKey(fingerprint " << key.fingerprint_ << ")";
}

EncryptionKey load_key_file(const std::string& path) {
  if (path.empty()) throw Error(ErrorKind::invalid_argument, "no encryption key file was given");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      throw Error(ErrorKind::not_found, "encryption key file " + path + " does not exist");
    throw_os_error("could not open encryption key file " + path, err);
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};

  struct stat st;
  if (::fstat(fd, &st) != 0) throw_os_error("could not stat encryption key file " + path, errno);
  if (!S_ISREG(st.st_mode))
    throw Error(ErrorKind::invalid_argument,
                "encryption key file " + path + " is not a regular file");
  // PostgreSQL's rule for ssl_key_file: nothing for others; the group only if root owns it.
  bool others = (st.st_mode & S_IRWXO) != 0;
  bool group = (st.st_mode & S_IRWXG) != 0 && st.st_uid != 0;
  if (others || group) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw Error(ErrorKind::invalid_argument,
                "encryption key file " + path + " can be accessed by " +
                    (others ? "other users" : "its group") + " (mode " + mode +
                    "); make it private with: chmod 600 " + path);
  }
  if (st.st_size != static_cast<off_t>(kEncryptionKeySize)) {
    std::string hint;
    if (st.st_size == 2 * kEncryptionKeySize || st.st_size == 2 * kEncryptionKeySize + 1)
      hint =
          "; that is the size of a key written as hex text: store the raw bytes instead "
          "(xxd -r -p)";
    else if (st.st_size == kEncryptionKeySize + 1)
      hint = " (a trailing newline counts)";
    throw Error(ErrorKind::invalid_argument,
                "encryption key file " + path + " holds " + std::to_string(st.st_size) +
                    " bytes, but a key is exactly " + std::to_string(kEncryptionKeySize) +
                    " raw bytes" + hint +
                    "; create one with: head -c 32 /dev/urandom > FILE && chmod 600 FILE");
  }
  Secret<kEncryptionKeySize> bytes;
  std::size_t got = 0;
  while (got < bytes.bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + got, bytes.bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_os_error("could not read encryption key file " + path, errno);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  char extra;
  ssize_t more;
  do {
    more = ::read(fd, &extra, 1);
  } while (more < 0 && errno == EINTR);
  if (got != bytes.bytes.size() || more != 0)
    throw Error(ErrorKind::invalid_argument,
                "encryption key file " + path + " changed size while it was being read");
  return EncryptionKey::from_bytes(bytes.bytes);
}

PassphraseSalt new_salt() {
  PassphraseSalt salt;
  random_bytes(salt);
  return salt;
}

void scrypt_kdf(std::string_view passphrase, std::span<const std::byte> salt,
                const ScryptParams& params, std::span<std::byte> out) {
  if (passphrase.empty())
    throw Error(ErrorKind::invalid_argument, "the encryption passphrase is empty");
  validate_scrypt_params(params);
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
  if (!kdf) throw_openssl("fetching scrypt");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (!ctx) throw_openssl("creating a scrypt context");
  std::uint64_t n = std::uint64_t{1} << params.log2_n;
  std::uint32_t r = params.r, p = params.p;
  // What OpenSSL allocates: 128 r (N + 2) for V plus 128 r p for B.
  std::uint64_t max_memory = 128 * std::uint64_t{r} * (n + 2 + p);
  OSSL_PARAM ossl_params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                        const_cast<char*>(passphrase.data()), passphrase.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::byte*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &max_memory),
      OSSL_PARAM_construct_end()};
  int ok = EVP_KDF_derive(ctx, uc(out.data()), out.size(), ossl_params);
  EVP_KDF_CTX_free(ctx);  // wipes OpenSSL's copy of the passphrase
  if (ok != 1) throw_openssl("scrypt key derivation");
}

EncryptionKey derive_key_from_passphrase(std::string_view passphrase, const PassphraseSalt& salt,
                                         const ScryptParams& params) {
  Secret<kEncryptionKeySize> bytes;
  scrypt_kdf(passphrase, salt, params, bytes.bytes);
  return EncryptionKey::from_bytes(bytes.bytes, {KeyDerivation::scrypt, params, salt});
}

// ---- headers and sizes ----------------------------------------------------------------

bool looks_encrypted(std::span<const std::byte> first_bytes) {
  return first_bytes.size() >= kMagic.size() && magic_prefix_matches(first_bytes);
}

EncryptionHeader read_encryption_header(std::span<const std::byte> first_bytes) {
  return parse_header(first_bytes).info;
}

std::uint64_t encrypted_size(std::uint64_t plaintext_size, std::size_t chunk_size) {
  validate_chunk_size(chunk_size);
  std::uint64_t chunks = std::max<std::uint64_t>(1, (plaintext_size + chunk_size - 1) / chunk_size);
  return kEncryptionHeaderSize + plaintext_size + chunks * kEncryptionTagSize;
}

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

void validate_encryption_settings(const EncryptionSettings& settings) {
  if (!settings.key_file.empty() && !settings.passphrase.empty())
    throw Error(ErrorKind::invalid_argument,
                "set only one of pgvault.encryption_key_file and pgvault.encryption_passphrase");
}

std::optional<EncryptionKey> backup_encryption_key(const EncryptionSettings& settings) {
  validate_encryption_settings(settings);
  if (!settings.key_file.empty()) return load_key_file(settings.key_file);
  if (!settings.passphrase.empty()) return derive_key_from_passphrase(settings.passphrase, new_salt());
  return std::nullopt;
}

KeyProvider restore_key_provider(const EncryptionSettings& settings) {
  validate_encryption_settings(settings);
  if (!settings.key_file.empty()) {
    // Read lazily: an unencrypted backup restores even if the file is gone.
    auto key = std::make_shared<std::optional<EncryptionKey>>();
    std::string path = settings.key_file;
    return [key, path](const EncryptionHeader& header) {
      if (!*key) *key = load_key_file(path);
      return key_provider(**key)(header);
    };
  }
  if (!settings.passphrase.empty()) return passphrase_key_provider(settings.passphrase);
  return no_key_provider();
}

void record_encryption(BackupMeta& meta, const EncryptionKey* key) {
  if (key == nullptr) return;
  meta.encryption = "aes-256-gcm";
  meta.key_fingerprint = key->fingerprint();
  meta.key_derivation = key->origin().derivation == KeyDerivation::scrypt ? "scrypt" : "raw";
}

}  // namespace pgvault
