// Encryption keys, key files and passphrase derivation (encryption_key.hpp).
#include "pgvault/pipeline/encryption_key.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"
#include "encryption_support.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ostream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

namespace pgvault {

using namespace encryption_internal;

namespace {

constexpr std::uint64_t kMaxScryptMemory = std::uint64_t{1} << 30;
constexpr std::string_view kFingerprintLabel = "pgvault key fingerprint v1";

}  // namespace

std::array<std::byte, kFingerprintSize> encryption_internal::fingerprint_bytes(
    std::span<const std::byte> key) {
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
  key.fingerprint_ = hex(fingerprint_bytes(key.bytes_));
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

}  // namespace pgvault
