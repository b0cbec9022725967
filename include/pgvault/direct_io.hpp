// What writing around the page cache (O_DIRECT) needs, shared by the
// restore's writers (FileWriter, PageWriteQueue): buffers that start on a
// page, and the test whether a write may go direct.
//
// Linux takes an O_DIRECT write whose buffer address, file offset and length
// are multiples of the device's logical block size (512 or 4096 bytes); 4096
// covers both. A write that is not aligned so gets EINVAL, so a writer checks
// first and sends such a write through the page cache instead.
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace pgvault {

inline constexpr std::size_t kDirectAlign = 4096;

// std::allocator, but every allocation starts on a 4096-byte boundary.
template <class T>
struct PageAlignedAllocator {
  using value_type = T;
  PageAlignedAllocator() = default;
  template <class U>
  PageAlignedAllocator(const PageAlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{kDirectAlign}));
  }
  void deallocate(T* p, std::size_t) noexcept {
    ::operator delete (p, std::align_val_t{kDirectAlign});
  }
  template <class U>
  bool operator==(const PageAlignedAllocator<U>&) const noexcept {
    return true;
  }
};

// A buffer a direct write can use (its data() is page-aligned).
using PageAlignedBytes = std::vector<std::byte, PageAlignedAllocator<std::byte>>;

// Whether a write of `bytes` from `data` at `offset` may go through O_DIRECT.
inline bool direct_write_aligned(const std::byte* data, std::uint64_t offset, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(data) % kDirectAlign == 0 && offset % kDirectAlign == 0 &&
         bytes % kDirectAlign == 0;
}

}  // namespace pgvault
