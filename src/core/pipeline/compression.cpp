// Streaming compressors/decompressors. Each stage owns one fixed output
// buffer (kOutBuf) and pushes it downstream whenever it fills; input is never
// accumulated, so memory stays flat whatever the stream size.
#include "pgvault/pipeline/compression.hpp"

#include "pgvault/error.hpp"
#include "pgvault/text.hpp"
#include "pgvault/thread.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <vector>

#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>

namespace pgvault {

namespace {

constexpr std::size_t kOutBuf = 128 * 1024;

[[noreturn]] void throw_corrupt(std::string_view algo, std::string_view what) {
  throw Error(ErrorKind::corrupt, "corrupt " + std::string(algo) + " data: " + std::string(what));
}

[[noreturn]] void throw_truncated(std::string_view algo) {
  throw Error(ErrorKind::corrupt, "corrupt " + std::string(algo) +
                                      " data: the stream is truncated (it ended inside a frame)");
}

int effective_level(Compression c, int level) {
  validate_compression_level(c, level);
  return level == 0 ? compression_levels(c).default_level : level;
}

// Base for codecs: a fixed output buffer and the next stage.
class CodecSink : public Sink {
 protected:
  explicit CodecSink(Sink& next) : next_(next), out_(kOutBuf) {}
  void emit(std::size_t n) {
    if (n > 0) next_.write({out_.data(), n});
  }
  Sink& next_;
  std::vector<std::byte> out_;
  bool finished_ = false;

  void check_open() {
    if (finished_) throw Error(ErrorKind::internal, "pipeline stage written after finish()");
  }
};

class PassThrough final : public Sink {
 public:
  explicit PassThrough(Sink& next) : next_(next) {}
  void write(std::span<const std::byte> data) override { next_.write(data); }
  void finish() override { next_.finish(); }

 private:
  Sink& next_;
};

// ---- zstd -------------------------------------------------------------------

class ZstdCompressor final : public CodecSink {
 public:
  ZstdCompressor(int level, int workers, Sink& next)
      : CodecSink(next), cs_(ZSTD_createCStream()), threaded_(workers > 0) {
    if (!cs_) throw Error(ErrorKind::internal, "could not create zstd compression context");
    check(ZSTD_CCtx_setParameter(cs_, ZSTD_c_compressionLevel, level));
    // Frame content checksum: the decompressor detects corruption by itself.
    check(ZSTD_CCtx_setParameter(cs_, ZSTD_c_checksumFlag, 1));
    if (threaded_) {
      check(ZSTD_CCtx_setParameter(cs_, ZSTD_c_nbWorkers, workers));
      // Jobs of 1 MiB instead of the level's default (8 MiB at level 3):
      // libzstd holds a few jobs per worker, and the job worker's memory must
      // stay flat.
      check(ZSTD_CCtx_setParameter(cs_, ZSTD_c_jobSize, kJobSize));
    }
  }
  ~ZstdCompressor() override { ZSTD_freeCStream(cs_); }

  void write(std::span<const std::byte> data) override {
    check_open();
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size) {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      check(compress(out, in, ZSTD_e_continue));
      emit(out.pos);
    }
  }

  void finish() override {
    check_open();
    finished_ = true;
    ZSTD_inBuffer in{nullptr, 0, 0};
    std::size_t remaining;
    do {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      remaining = check(compress(out, in, ZSTD_e_end));
      emit(out.pos);
    } while (remaining != 0);
    next_.finish();
  }

 private:
  static constexpr std::size_t kJobSize = 1024 * 1024;

  // libzstd starts its workers in the call that begins a frame
  // (ZSTD_CCtx_init_compressStream2): they must not take the signals of a
  // PostgreSQL backend, whose handlers belong to its main thread. Only that
  // call blocks them: an incremental writes thousands of small tar pieces,
  // and two system calls around each were ~5 ms of its CPU (perf).
  std::size_t compress(ZSTD_outBuffer& out, ZSTD_inBuffer& in, ZSTD_EndDirective end) {
    if (!threaded_ || frame_started_) return ZSTD_compressStream2(cs_, &out, &in, end);
    AllSignalsBlocked blocked;
    const std::size_t rc = ZSTD_compressStream2(cs_, &out, &in, end);
    frame_started_ = !ZSTD_isError(rc);
    return rc;
  }
  static std::size_t check(std::size_t rc) {
    if (ZSTD_isError(rc))
      throw Error(ErrorKind::internal,
                  std::string("zstd compression failed: ") + ZSTD_getErrorName(rc));
    return rc;
  }
  ZSTD_CStream* cs_;
  bool threaded_;
  bool frame_started_ = false;  // libzstd's workers exist from here on
};

class ZstdDecompressor final : public CodecSink {
 public:
  explicit ZstdDecompressor(Sink& next) : CodecSink(next), ds_(ZSTD_createDStream()) {
    if (!ds_) throw Error(ErrorKind::internal, "could not create zstd decompression context");
    ZSTD_initDStream(ds_);
  }
  ~ZstdDecompressor() override { ZSTD_freeDStream(ds_); }

  void write(std::span<const std::byte> data) override {
    check_open();
    if (data.empty()) return;
    seen_input_ = true;
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    ZSTD_outBuffer out;
    do {
      out = {out_.data(), out_.size(), 0};
      std::size_t before = in.pos;
      std::size_t rc = ZSTD_decompressStream(ds_, &out, &in);
      if (ZSTD_isError(rc)) throw_corrupt("zstd", ZSTD_getErrorName(rc));
      // rc == 0: a frame ended and is fully flushed. A call that neither
      // consumed nor produced anything (draining a full buffer) says nothing.
      if (in.pos != before || out.pos > 0) frame_complete_ = rc == 0;
      emit(out.pos);
    } while (in.pos < in.size || out.pos == out.size);
  }

  void finish() override {
    check_open();
    finished_ = true;
    if (!seen_input_ || !frame_complete_) throw_truncated("zstd");
    next_.finish();
  }

 private:
  ZSTD_DStream* ds_;
  bool seen_input_ = false;
  bool frame_complete_ = false;
};

// ---- lz4 (frame format) ----------------------------------------------------------

class Lz4Compressor final : public CodecSink {
 public:
  Lz4Compressor(int level, Sink& next) : CodecSink(next) {
    if (LZ4F_isError(LZ4F_createCompressionContext(&ctx_, LZ4F_VERSION)))
      throw Error(ErrorKind::internal, "could not create lz4 compression context");
    prefs_ = LZ4F_preferences_t{};
    prefs_.frameInfo.blockSizeID = LZ4F_max256KB;
    prefs_.frameInfo.blockMode = LZ4F_blockLinked;
    prefs_.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    prefs_.compressionLevel = level;
    // The output buffer must hold the worst case of one input chunk plus
    // whatever the context still buffers (up to one block).
    std::size_t need =
        std::max<std::size_t>(LZ4F_compressBound(kChunk, &prefs_), LZ4F_HEADER_SIZE_MAX);
    if (need > out_.size()) out_.resize(need);
  }
  ~Lz4Compressor() override { LZ4F_freeCompressionContext(ctx_); }

  void write(std::span<const std::byte> data) override {
    check_open();
    begin();
    while (!data.empty()) {
      std::size_t n = std::min(data.size(), kChunk);
      std::size_t rc = LZ4F_compressUpdate(ctx_, out_.data(), out_.size(), data.data(), n, nullptr);
      emit(check(rc));
      data = data.subspan(n);
    }
  }

  void finish() override {
    check_open();
    begin();
    finished_ = true;
    emit(check(LZ4F_compressEnd(ctx_, out_.data(), out_.size(), nullptr)));
    next_.finish();
  }

 private:
  static constexpr std::size_t kChunk = 64 * 1024;

  void begin() {
    if (begun_) return;
    begun_ = true;
    emit(check(LZ4F_compressBegin(ctx_, out_.data(), out_.size(), &prefs_)));
  }
  static std::size_t check(std::size_t rc) {
    if (LZ4F_isError(rc))
      throw Error(ErrorKind::internal,
                  std::string("lz4 compression failed: ") + LZ4F_getErrorName(rc));
    return rc;
  }

  LZ4F_cctx* ctx_ = nullptr;
  LZ4F_preferences_t prefs_;
  bool begun_ = false;
};

class Lz4Decompressor final : public CodecSink {
 public:
  explicit Lz4Decompressor(Sink& next) : CodecSink(next) {
    if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx_, LZ4F_VERSION)))
      throw Error(ErrorKind::internal, "could not create lz4 decompression context");
  }
  ~Lz4Decompressor() override { LZ4F_freeDecompressionContext(ctx_); }

  void write(std::span<const std::byte> data) override {
    check_open();
    if (data.empty()) return;
    seen_input_ = true;
    const std::byte* src = data.data();
    std::size_t left = data.size();
    std::size_t produced;
    do {
      std::size_t src_size = left;
      produced = out_.size();
      std::size_t rc = LZ4F_decompress(ctx_, out_.data(), &produced, src, &src_size, nullptr);
      if (LZ4F_isError(rc)) throw_corrupt("lz4", LZ4F_getErrorName(rc));
      // rc == 0: a frame ended (the context is ready for a concatenated one).
      if (src_size > 0 || produced > 0) frame_complete_ = rc == 0;
      src += src_size;
      left -= src_size;
      emit(produced);
      if (src_size == 0 && produced == 0 && left > 0)
        throw Error(ErrorKind::internal, "lz4 decompression made no progress");
    } while (left > 0 || produced == out_.size());
  }

  void finish() override {
    check_open();
    finished_ = true;
    if (!seen_input_ || !frame_complete_) throw_truncated("lz4");
    next_.finish();
  }

 private:
  LZ4F_dctx* ctx_ = nullptr;
  bool seen_input_ = false;
  bool frame_complete_ = false;
};

// ---- gzip (zlib) --------------------------------------------------------------------

// zlib counts in uInt; feed at most this much per call.
constexpr std::size_t kZlibMaxIn = 1u << 30;

class GzipCompressor final : public CodecSink {
 public:
  GzipCompressor(int level, Sink& next) : CodecSink(next) {
    zs_ = z_stream{};
    if (deflateInit2(&zs_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw Error(ErrorKind::internal, "could not initialize gzip compression");
  }
  ~GzipCompressor() override { deflateEnd(&zs_); }

  void write(std::span<const std::byte> data) override {
    check_open();
    while (!data.empty()) {
      std::size_t n = std::min(data.size(), kZlibMaxIn);
      zs_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(data.data()));
      zs_.avail_in = static_cast<uInt>(n);
      do {
        zs_.next_out = reinterpret_cast<Bytef*>(out_.data());
        zs_.avail_out = static_cast<uInt>(out_.size());
        int rc = deflate(&zs_, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_BUF_ERROR)
          throw Error(ErrorKind::internal,
                      "gzip compression failed (zlib error " + std::to_string(rc) + ")");
        emit(out_.size() - zs_.avail_out);
      } while (zs_.avail_in > 0 || zs_.avail_out == 0);
      data = data.subspan(n);
    }
  }

  void finish() override {
    check_open();
    finished_ = true;
    zs_.next_in = nullptr;
    zs_.avail_in = 0;
    int rc;
    do {
      zs_.next_out = reinterpret_cast<Bytef*>(out_.data());
      zs_.avail_out = static_cast<uInt>(out_.size());
      rc = deflate(&zs_, Z_FINISH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
        throw Error(ErrorKind::internal,
                    "gzip compression failed (zlib error " + std::to_string(rc) + ")");
      emit(out_.size() - zs_.avail_out);
    } while (rc != Z_STREAM_END);
    next_.finish();
  }

 private:
  z_stream zs_;
};

class GzipDecompressor final : public CodecSink {
 public:
  explicit GzipDecompressor(Sink& next) : CodecSink(next) {
    zs_ = z_stream{};
    // 15 + 32: gzip or zlib header, detected automatically.
    if (inflateInit2(&zs_, 15 + 32) != Z_OK)
      throw Error(ErrorKind::internal, "could not initialize gzip decompression");
  }
  ~GzipDecompressor() override { inflateEnd(&zs_); }

  void write(std::span<const std::byte> data) override {
    check_open();
    while (!data.empty()) {
      std::size_t n = std::min(data.size(), kZlibMaxIn);
      zs_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(data.data()));
      zs_.avail_in = static_cast<uInt>(n);
      while (zs_.avail_in > 0) {
        if (member_done_) {
          // Concatenated members (as `cat a.gz b.gz` or parallel gzip produce).
          if (inflateReset(&zs_) != Z_OK) throw_corrupt("gzip", "could not reset the stream");
          member_done_ = false;
        }
        in_member_ = true;
        int rc;
        do {
          zs_.next_out = reinterpret_cast<Bytef*>(out_.data());
          zs_.avail_out = static_cast<uInt>(out_.size());
          rc = inflate(&zs_, Z_NO_FLUSH);
          switch (rc) {
            case Z_OK:
            case Z_BUF_ERROR:  // no progress possible: needs more input
              break;
            case Z_STREAM_END:
              member_done_ = true;
              in_member_ = false;
              break;
            case Z_NEED_DICT:
              throw_corrupt("gzip", "a preset dictionary is required");
            case Z_MEM_ERROR:
              throw Error(ErrorKind::internal, "gzip decompression: out of memory");
            default:
              throw_corrupt("gzip", zs_.msg ? zs_.msg : "invalid data");
          }
          emit(out_.size() - zs_.avail_out);
        } while (rc != Z_STREAM_END && (zs_.avail_in > 0 || zs_.avail_out == 0) &&
                 rc != Z_BUF_ERROR);
      }
      data = data.subspan(n);
    }
  }

  void finish() override {
    check_open();
    finished_ = true;
    // Drain anything inflate still holds (the output buffer may have been full).
    if (in_member_) {
      int rc;
      do {
        zs_.next_out = reinterpret_cast<Bytef*>(out_.data());
        zs_.avail_out = static_cast<uInt>(out_.size());
        rc = inflate(&zs_, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) in_member_ = false;
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
          throw_corrupt("gzip", zs_.msg ? zs_.msg : "invalid data");
        emit(out_.size() - zs_.avail_out);
      } while (rc == Z_OK && zs_.avail_out == 0);
    }
    if (!member_done_ || in_member_) throw_truncated("gzip");
    next_.finish();
  }

 private:
  z_stream zs_;
  bool member_done_ = false;  // the last member ended (also: the next byte starts a new one)
  bool in_member_ = false;
};

}  // namespace

std::optional<Compression> parse_compression(std::string_view name) {
  for (Compression c : {Compression::none, Compression::gzip, Compression::lz4, Compression::zstd})
    if (ascii_iequals(name, compression_name(c))) return c;
  return std::nullopt;
}

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::none:
      return "none";
    case Compression::gzip:
      return "gzip";
    case Compression::lz4:
      return "lz4";
    case Compression::zstd:
      return "zstd";
  }
  return "none";
}

std::string_view compression_suffix(Compression c) {
  switch (c) {
    case Compression::none:
      return "";
    case Compression::gzip:
      return ".gz";
    case Compression::lz4:
      return ".lz4";
    case Compression::zstd:
      return ".zst";
  }
  return "";
}

Compression compression_from_name(std::string_view file_name) {
  for (Compression c : {Compression::gzip, Compression::lz4, Compression::zstd})
    if (file_name.ends_with(compression_suffix(c))) return c;
  return Compression::none;
}

LevelRange compression_levels(Compression c) {
  switch (c) {
    case Compression::none:
      return {0, 0, 0};
    case Compression::gzip:
      return {1, 9, 6};
    case Compression::lz4:
      return {1, 12, 1};
    case Compression::zstd:
      return {1, 22, 3};
  }
  return {0, 0, 0};
}

void validate_compression_level(Compression c, int level) {
  if (level == 0) return;  // 0 selects the algorithm's default level
  LevelRange r = compression_levels(c);
  if (c == Compression::none)
    throw Error(ErrorKind::invalid_argument,
                "compression level " + std::to_string(level) +
                    " is not allowed without compression (allowed: 0)");
  if (level < r.min || level > r.max)
    throw Error(ErrorKind::invalid_argument,
                "compression level " + std::to_string(level) + " is out of range for " +
                    std::string(compression_name(c)) + " (allowed: " + std::to_string(r.min) +
                    ".." + std::to_string(r.max) + ")");
}

int effective_compression_level(Compression c, int level) {
  if (c == Compression::none) return 0;
  if (level == 0) level = compression_levels(c).default_level;
  validate_compression_level(c, level);
  return level;
}

std::unique_ptr<Sink> make_compressor(Compression c, int level, Sink& next, int workers) {
  int lvl = effective_level(c, level);
  if (workers < 0 || workers > 64)
    throw Error(ErrorKind::invalid_argument, "compression workers " + std::to_string(workers) +
                                                 " is out of range (allowed: 0..64)");
  switch (c) {
    case Compression::none:
      return std::make_unique<PassThrough>(next);
    case Compression::gzip:
      return std::make_unique<GzipCompressor>(lvl, next);
    case Compression::lz4:
      return std::make_unique<Lz4Compressor>(lvl, next);
    case Compression::zstd:
      return std::make_unique<ZstdCompressor>(lvl, workers, next);
  }
  throw Error(ErrorKind::internal, "unknown compression");
}

std::unique_ptr<Sink> make_decompressor(Compression c, Sink& next) {
  switch (c) {
    case Compression::none:
      return std::make_unique<PassThrough>(next);
    case Compression::gzip:
      return std::make_unique<GzipDecompressor>(next);
    case Compression::lz4:
      return std::make_unique<Lz4Decompressor>(next);
    case Compression::zstd:
      return std::make_unique<ZstdDecompressor>(next);
  }
  throw Error(ErrorKind::internal, "unknown compression");
}

}  // namespace pgvault
