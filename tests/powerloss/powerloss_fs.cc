// powerloss_fs: a FUSE file system that models a disk with a volatile write
// cache, so that a test can cut the power under a running kgw and see what
// an fsync really kept. Killing a process (tests/integration/
// test_crash_consistency.py) keeps the page cache, so it cannot tell
// `--fsync batch` from `--fsync never`; this can.
//
//   powerloss_fs BACKING MOUNTPOINT [-d]
//
// The happy path is: load every file and directory under BACKING into
// memory, mount MOUNTPOINT, print "powerloss_fs: mounted", serve; on SIGUSR1
// ("power off") unmount, replace BACKING's contents with exactly the durable
// state, print a summary and exit 0. SIGTERM, SIGINT or an unmount is a
// clean shutdown instead: everything counts as synced first (as an OS
// flushes its caches before it powers off). Possible failure modes are: the
// mount fails (no /dev/fuse, no permission: exit 77, meson's SKIP, with the
// reason on stderr), BACKING cannot be read or written (exit 1 with the
// path and the error).
//
// The model, per inode (one Node): the live state, which every read sees,
// and the durable state, what a power cut leaves.
//   - File data and size become durable at fsync or fdatasync of that file
//     (both alike: fdatasync also keeps the size needed to read the data).
//     Only the bytes written since the last sync are copied then.
//   - Directory entries (create, unlink, rename, mkdir, rmdir) become durable
//     at fsync of the directory that holds them, all of them at once. A file
//     fsynced but whose entry was never made durable is lost at power off; an
//     entry made durable before its file's data is a file of the synced size
//     (empty if never synced), as ext4 can leave after a crash. Both are
//     stricter than a journaling file system, which often persists more than
//     was asked; a program that passes here follows POSIX's rules.
//   - Attributes other than the size (mode, times) are not modelled: they are
//     what the live inode has.
//   - Hard links and symbolic links are refused (EPERM): RocksDB does not
//     need them for a database's normal life.
// Everything lives in memory: meant for test data sizes (tens of MiB).
// Requests are served by one thread, so nothing here needs a lock.

#define FUSE_USE_VERSION 35

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr int kSkipExitCode = 77;  // meson: the test is skipped

// Byte ranges [begin, end) written since the last fsync, merged, so an fsync
// copies only what changed (a WAL is synced many times as it grows).
class DirtyRanges {
 public:
  void add(std::uint64_t begin, std::uint64_t end) {
    if (begin >= end) return;
    auto it = ranges_.upper_bound(begin);
    if (it != ranges_.begin() && std::prev(it)->second >= begin) --it;
    while (it != ranges_.end() && it->first <= end) {
      begin = std::min(begin, it->first);
      end = std::max(end, it->second);
      it = ranges_.erase(it);
    }
    ranges_.emplace(begin, end);
  }

  // After a truncate to `size`: nothing beyond it is dirty any more.
  void clip(std::uint64_t size) {
    for (auto it = ranges_.lower_bound(size); it != ranges_.end();) it = ranges_.erase(it);
    if (!ranges_.empty()) {
      auto last = std::prev(ranges_.end());
      last->second = std::min(last->second, size);
      if (last->first >= last->second) ranges_.erase(last);
    }
  }

  const std::map<std::uint64_t, std::uint64_t>& ranges() const { return ranges_; }
  void clear() { ranges_.clear(); }
  bool empty() const { return ranges_.empty(); }

 private:
  std::map<std::uint64_t, std::uint64_t> ranges_;
};

struct Node {
  bool is_dir = false;
  mode_t mode = 0;
  std::uint32_t nlink = 0;          // live directory entries naming it
  std::uint64_t nlookup = 0;        // the kernel's references (lookup - forget)
  std::uint32_t durable_links = 0;  // durable directory entries naming it
  timespec mtime{};
  // Files.
  std::string data;
  std::string durable_data;
  DirtyRanges dirty;
  // The smallest size the file was truncated to since the last fsync: the
  // durable bytes beyond it are gone at the next fsync even if the file grew
  // again (the grown part reads as zeros).
  std::uint64_t truncated_to = std::numeric_limits<std::uint64_t>::max();
  // Directories.
  std::map<std::string, fuse_ino_t> children;
  std::map<std::string, fuse_ino_t> durable_children;
};

struct DirHandle {
  std::vector<std::pair<std::string, fuse_ino_t>> entries;
};

timespec now() {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

class PowerLossFs {
 public:
  explicit PowerLossFs(std::string backing) : backing_(std::move(backing)) {
    Node root;
    root.is_dir = true;
    root.mode = S_IFDIR | 0755;
    root.nlink = 1;
    root.durable_links = 1;  // the root is always there
    root.mtime = now();
    nodes_.emplace(FUSE_ROOT_ID, std::move(root));
  }

  // Reads BACKING into memory as both the live and the durable state.
  bool load(std::string& error) { return load_dir(FUSE_ROOT_ID, backing_, error); }

  // Replaces BACKING's contents with the durable state (after a power off)
  // or, with sync_all, with the live state (a clean shutdown).
  bool store(bool sync_all, std::string& error, std::size_t& files, std::uint64_t& bytes) {
    if (sync_all) {
      // sync_dir may free inodes: collect first.
      std::vector<fuse_ino_t> dirs;
      for (const auto& [ino, node] : nodes_) {
        if (node.is_dir) dirs.push_back(ino);
      }
      for (fuse_ino_t ino : dirs) {
        if (find(ino) != nullptr) sync_dir(ino);
      }
      for (auto& [ino, node] : nodes_) {
        if (!node.is_dir) sync_file(node);
      }
    }
    std::error_code ec;
    for (fs::directory_iterator it(backing_, ec), end; !ec && it != end; it.increment(ec)) {
      fs::remove_all(it->path(), ec);
      if (ec) break;
    }
    if (ec) {
      error = backing_ + ": cannot empty it: " + ec.message();
      return false;
    }
    files = 0;
    bytes = 0;
    return store_dir(FUSE_ROOT_ID, backing_, 0, error, files, bytes);
  }

  // -- the operations (see fuse_lowlevel.h for each one's contract) --------

  void lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Node* dir = find(parent);
    if (dir == nullptr || !dir->is_dir) return (void)fuse_reply_err(req, ENOTDIR);
    auto it = dir->children.find(name);
    if (it == dir->children.end()) return (void)fuse_reply_err(req, ENOENT);
    reply_entry(req, it->second);
  }

  void forget(fuse_ino_t ino, std::uint64_t n) {
    Node* node = find(ino);
    if (node == nullptr) return;
    node->nlookup -= std::min(node->nlookup, n);
    maybe_free(ino);
  }

  void getattr(fuse_req_t req, fuse_ino_t ino) {
    if (find(ino) == nullptr) return (void)fuse_reply_err(req, ENOENT);
    struct stat st = stat_of(ino);
    fuse_reply_attr(req, &st, 0.0);
  }

  void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set) {
    Node* node = find(ino);
    if (node == nullptr) return (void)fuse_reply_err(req, ENOENT);
    if (to_set & FUSE_SET_ATTR_SIZE) {
      if (node->is_dir) return (void)fuse_reply_err(req, EISDIR);
      if (attr->st_size < 0) return (void)fuse_reply_err(req, EINVAL);
      resize(*node, static_cast<std::uint64_t>(attr->st_size));
      node->mtime = now();
    }
    if (to_set & FUSE_SET_ATTR_MODE) {
      node->mode = (node->mode & S_IFMT) | (attr->st_mode & 07777);
    }
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
      node->mtime = now();
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
      node->mtime = attr->st_mtim;
    }
    struct stat st = stat_of(ino);
    fuse_reply_attr(req, &st, 0.0);
  }

  void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    if (!S_ISREG(mode)) return (void)fuse_reply_err(req, EPERM);
    fuse_ino_t ino = 0;
    int err = add_entry(parent, name, false, mode, ino);
    if (err != 0) return (void)fuse_reply_err(req, err);
    reply_entry(req, ino);
  }

  void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
    Node* dir = find(parent);
    if (dir == nullptr || !dir->is_dir) return (void)fuse_reply_err(req, ENOTDIR);
    fuse_ino_t ino = 0;
    auto it = dir->children.find(name);
    if (it != dir->children.end()) {
      if (fi->flags & O_EXCL) return (void)fuse_reply_err(req, EEXIST);
      ino = it->second;
      Node& node = nodes_.at(ino);
      if (node.is_dir) return (void)fuse_reply_err(req, EISDIR);
      if (fi->flags & O_TRUNC) resize(node, 0);
    } else {
      int err = add_entry(parent, name, false, S_IFREG | (mode & 07777), ino);
      if (err != 0) return (void)fuse_reply_err(req, err);
    }
    fuse_entry_param e = entry_of(ino);
    fi->keep_cache = 0;
    if (fuse_reply_create(req, &e, fi) == 0) ++nodes_.at(ino).nlookup;
  }

  void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    fuse_ino_t ino = 0;
    int err = add_entry(parent, name, true, S_IFDIR | (mode & 07777), ino);
    if (err != 0) return (void)fuse_reply_err(req, err);
    reply_entry(req, ino);
  }

  void unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    fuse_reply_err(req, remove_entry(parent, name, false));
  }

  void rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    fuse_reply_err(req, remove_entry(parent, name, true));
  }

  void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
    // RENAME_NOREPLACE is 1, RENAME_EXCHANGE 2 (linux/fs.h).
    if (flags & ~1u) return (void)fuse_reply_err(req, EINVAL);
    Node* from = find(parent);
    Node* to = find(newparent);
    if (from == nullptr || to == nullptr || !from->is_dir || !to->is_dir) {
      return (void)fuse_reply_err(req, ENOTDIR);
    }
    auto src = from->children.find(name);
    if (src == from->children.end()) return (void)fuse_reply_err(req, ENOENT);
    fuse_ino_t ino = src->second;
    auto dst = to->children.find(newname);
    fuse_ino_t replaced = 0;
    if (dst != to->children.end()) {
      if (flags & 1u) return (void)fuse_reply_err(req, EEXIST);
      if (dst->second == ino) return (void)fuse_reply_err(req, 0);
      Node& old = nodes_.at(dst->second);
      bool src_dir = nodes_.at(ino).is_dir;
      if (src_dir && !old.is_dir) return (void)fuse_reply_err(req, ENOTDIR);
      if (!src_dir && old.is_dir) return (void)fuse_reply_err(req, EISDIR);
      if (old.is_dir && !old.children.empty()) return (void)fuse_reply_err(req, ENOTEMPTY);
      replaced = dst->second;
      --old.nlink;
    }
    from->children.erase(src);
    to->children[newname] = ino;
    from->mtime = to->mtime = now();
    if (replaced != 0) maybe_free(replaced);
    fuse_reply_err(req, 0);
  }

  void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Node* node = find(ino);
    if (node == nullptr) return (void)fuse_reply_err(req, ENOENT);
    if (node->is_dir) return (void)fuse_reply_err(req, EISDIR);
    // libfuse asks for FUSE_CAP_ATOMIC_O_TRUNC: O_TRUNC comes here, not as a
    // setattr.
    if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY) resize(*node, 0);
    fi->keep_cache = 0;
    fuse_reply_open(req, fi);
  }

  void read(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off) {
    Node* node = find(ino);
    if (node == nullptr) return (void)fuse_reply_err(req, ENOENT);
    if (off < 0) return (void)fuse_reply_err(req, EINVAL);
    auto begin = std::min<std::uint64_t>(static_cast<std::uint64_t>(off), node->data.size());
    auto n = std::min<std::uint64_t>(size, node->data.size() - begin);
    fuse_reply_buf(req, node->data.data() + begin, n);
  }

  void write(fuse_req_t req, fuse_ino_t ino, const char* buf, std::size_t size, off_t off) {
    Node* node = find(ino);
    if (node == nullptr) return (void)fuse_reply_err(req, ENOENT);
    if (off < 0) return (void)fuse_reply_err(req, EINVAL);
    auto begin = static_cast<std::uint64_t>(off);
    if (begin + size > node->data.size()) resize(*node, begin + size);
    std::copy(buf, buf + size, node->data.begin() + static_cast<std::ptrdiff_t>(begin));
    node->dirty.add(begin, begin + size);
    node->mtime = now();
    fuse_reply_write(req, size);
  }

  void fsync(fuse_req_t req, fuse_ino_t ino) {
    Node* node = find(ino);
    if (node == nullptr) return (void)fuse_reply_err(req, ENOENT);
    sync_file(*node);
    ++file_syncs_;
    fuse_reply_err(req, 0);
  }

  void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Node* node = find(ino);
    if (node == nullptr) return (void)fuse_reply_err(req, ENOENT);
    if (!node->is_dir) return (void)fuse_reply_err(req, ENOTDIR);
    // A snapshot, so entries added or removed while a program lists the
    // directory cannot shift the offsets under it.
    // The file system owns it: a power cut ends the session with
    // directories still open, and their handles go with the file system.
    std::uint64_t id = next_dir_handle_++;
    DirHandle& handle = dir_handles_[id];
    handle.entries.emplace_back(".", ino);
    handle.entries.emplace_back("..", ino);
    for (const auto& [name, child] : node->children) handle.entries.emplace_back(name, child);
    fi->fh = id;
    fuse_reply_open(req, fi);
  }

  void readdir(fuse_req_t req, std::size_t size, off_t off, fuse_file_info* fi) {
    auto it = dir_handles_.find(fi->fh);
    if (it == dir_handles_.end()) return (void)fuse_reply_err(req, EBADF);
    const DirHandle* handle = &it->second;
    std::vector<char> buf(size);
    std::size_t used = 0;
    for (auto i = static_cast<std::size_t>(std::max<off_t>(off, 0)); i < handle->entries.size();
         ++i) {
      const auto& [name, ino] = handle->entries[i];
      struct stat st {};
      st.st_ino = ino;
      Node* node = find(ino);
      st.st_mode = node != nullptr ? node->mode : S_IFREG;
      std::size_t need = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st,
                                           static_cast<off_t>(i + 1));
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
  }

  void releasedir(fuse_req_t req, fuse_file_info* fi) {
    dir_handles_.erase(fi->fh);
    fuse_reply_err(req, 0);
  }

  void fsyncdir(fuse_req_t req, fuse_ino_t ino) {
    Node* node = find(ino);
    if (node == nullptr) return (void)fuse_reply_err(req, ENOENT);
    sync_dir(ino);
    ++dir_syncs_;
    fuse_reply_err(req, 0);
  }

  void statfs(fuse_req_t req) {
    struct statvfs st {};
    st.f_bsize = 4096;
    st.f_frsize = 4096;
    st.f_blocks = st.f_bfree = st.f_bavail = std::uint64_t{1} << 28;  // 1 TiB
    st.f_files = st.f_ffree = st.f_favail = std::uint64_t{1} << 32;
    st.f_namemax = 255;
    fuse_reply_statfs(req, &st);
  }

  std::uint64_t file_syncs() const { return file_syncs_; }
  std::uint64_t dir_syncs() const { return dir_syncs_; }

 private:
  Node* find(fuse_ino_t ino) {
    auto it = nodes_.find(ino);
    return it == nodes_.end() ? nullptr : &it->second;
  }

  struct stat stat_of(fuse_ino_t ino) {
    const Node& node = nodes_.at(ino);
    struct stat st {};
    st.st_ino = ino;
    st.st_mode = node.mode;
    st.st_nlink = node.is_dir ? 2 : node.nlink;
    st.st_uid = getuid();
    st.st_gid = getgid();
    st.st_size = node.is_dir ? 4096 : static_cast<off_t>(node.data.size());
    st.st_blksize = 4096;
    st.st_blocks = (st.st_size + 511) / 512;
    st.st_atim = st.st_mtim = st.st_ctim = node.mtime;
    return st;
  }

  fuse_entry_param entry_of(fuse_ino_t ino) {
    fuse_entry_param e{};
    e.ino = ino;
    e.generation = 1;  // inode numbers are never reused
    e.attr = stat_of(ino);
    // No caching in the kernel: every lookup and stat asks us.
    e.attr_timeout = 0.0;
    e.entry_timeout = 0.0;
    return e;
  }

  void reply_entry(fuse_req_t req, fuse_ino_t ino) {
    fuse_entry_param e = entry_of(ino);
    if (fuse_reply_entry(req, &e) == 0) ++nodes_.at(ino).nlookup;
  }

  fuse_ino_t new_node(bool is_dir, mode_t mode) {
    Node node;
    node.is_dir = is_dir;
    node.mode = mode;
    node.mtime = now();
    fuse_ino_t ino = next_ino_++;
    nodes_.emplace(ino, std::move(node));
    return ino;
  }

  int add_entry(fuse_ino_t parent, const char* name, bool is_dir, mode_t mode, fuse_ino_t& ino) {
    Node* dir = find(parent);
    if (dir == nullptr || !dir->is_dir) return ENOTDIR;
    if (dir->children.count(name) != 0) return EEXIST;
    ino = new_node(is_dir, mode);
    Node& node = nodes_.at(ino);
    node.nlink = 1;
    dir = find(parent);  // new_node may have rehashed nodes_
    dir->children[name] = ino;
    dir->mtime = now();
    return 0;
  }

  int remove_entry(fuse_ino_t parent, const char* name, bool want_dir) {
    Node* dir = find(parent);
    if (dir == nullptr || !dir->is_dir) return ENOTDIR;
    auto it = dir->children.find(name);
    if (it == dir->children.end()) return ENOENT;
    fuse_ino_t ino = it->second;
    Node& node = nodes_.at(ino);
    if (want_dir && !node.is_dir) return ENOTDIR;
    if (!want_dir && node.is_dir) return EISDIR;
    if (want_dir && !node.children.empty()) return ENOTEMPTY;
    dir->children.erase(it);
    dir->mtime = now();
    --node.nlink;
    maybe_free(ino);
    return 0;
  }

  void resize(Node& node, std::uint64_t size) {
    std::uint64_t old = node.data.size();
    if (size < old) {
      node.truncated_to = std::min(node.truncated_to, size);
      node.dirty.clip(size);
    } else {
      node.dirty.add(old, size);  // zeros, which the durable copy must get too
    }
    node.data.resize(size);
  }

  static void sync_file(Node& node) {
    if (node.durable_data.size() > node.truncated_to) node.durable_data.resize(node.truncated_to);
    node.durable_data.resize(node.data.size());
    for (const auto& [begin, end] : node.dirty.ranges()) {
      std::copy(node.data.begin() + static_cast<std::ptrdiff_t>(begin),
                node.data.begin() + static_cast<std::ptrdiff_t>(end),
                node.durable_data.begin() + static_cast<std::ptrdiff_t>(begin));
    }
    node.dirty.clear();
    node.truncated_to = std::numeric_limits<std::uint64_t>::max();
  }

  void sync_dir(fuse_ino_t ino) {
    Node& dir = nodes_.at(ino);
    std::vector<fuse_ino_t> dropped;
    for (const auto& [name, child] : dir.durable_children) {
      --nodes_.at(child).durable_links;
      dropped.push_back(child);
    }
    dir.durable_children = dir.children;
    for (const auto& [name, child] : dir.durable_children) ++nodes_.at(child).durable_links;
    for (fuse_ino_t child : dropped) maybe_free(child);
  }

  // An inode nothing refers to any more (no live entry, no kernel reference,
  // no durable entry) goes; one only durable keeps just its durable state.
  void maybe_free(fuse_ino_t ino) {
    if (ino == FUSE_ROOT_ID) return;
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return;
    Node& node = it->second;
    if (node.nlink != 0 || node.nlookup != 0) return;
    if (node.durable_links != 0) {
      std::string().swap(node.data);
      return;
    }
    std::vector<fuse_ino_t> orphans;
    for (const auto& [name, child] : node.durable_children) orphans.push_back(child);
    nodes_.erase(it);
    for (fuse_ino_t child : orphans) {
      Node* c = find(child);
      if (c == nullptr) continue;
      --c->durable_links;
      maybe_free(child);
    }
  }

  bool load_dir(fuse_ino_t dir_ino, const std::string& path, std::string& error) {
    std::error_code ec;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      struct stat st {};
      if (lstat(it->path().c_str(), &st) != 0) {
        error = it->path().string() + ": " + strerror(errno);
        return false;
      }
      fuse_ino_t ino = 0;
      if (S_ISDIR(st.st_mode)) {
        ino = new_node(true, S_IFDIR | (st.st_mode & 07777));
        if (!load_dir(ino, it->path().string(), error)) return false;
      } else if (S_ISREG(st.st_mode)) {
        ino = new_node(false, S_IFREG | (st.st_mode & 07777));
        std::ifstream in(it->path(), std::ios::binary);
        std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof()) {
          error = it->path().string() + ": cannot read it";
          return false;
        }
        Node& node = nodes_.at(ino);
        node.durable_data = data;
        node.data = std::move(data);
      } else {
        error = it->path().string() + ": neither a file nor a directory; remove it";
        return false;
      }
      Node& node = nodes_.at(ino);
      node.nlink = 1;
      node.durable_links = 1;
      node.mtime = st.st_mtim;
      Node& dir = nodes_.at(dir_ino);
      dir.children[name] = ino;
      dir.durable_children[name] = ino;
    }
    if (ec) {
      error = path + ": cannot list it: " + ec.message();
      return false;
    }
    return true;
  }

  bool store_dir(fuse_ino_t dir_ino, const std::string& path, int depth, std::string& error,
                 std::size_t& files, std::uint64_t& bytes) {
    // Renames of directories synced in only one of their two parents can
    // make the durable tree a graph; a real disk would hold one of its
    // shapes, and no test here moves directories.
    if (depth > 64) {
      error = path + ": directories nested more than 64 deep (a rename cycle?)";
      return false;
    }
    for (const auto& [name, ino] : nodes_.at(dir_ino).durable_children) {
      const Node& node = nodes_.at(ino);
      std::string child = path + "/" + name;
      if (node.is_dir) {
        if (::mkdir(child.c_str(), node.mode & 07777) != 0 && errno != EEXIST) {
          error = child + ": cannot create it: " + strerror(errno);
          return false;
        }
        if (!store_dir(ino, child, depth + 1, error, files, bytes)) return false;
        continue;
      }
      int fd = ::open(child.c_str(), O_WRONLY | O_CREAT | O_TRUNC, node.mode & 07777);
      if (fd < 0) {
        error = child + ": cannot create it: " + strerror(errno);
        return false;
      }
      const std::string& data = node.durable_data;
      std::size_t done = 0;
      while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          error = child + ": cannot write it: " + strerror(errno);
          ::close(fd);
          return false;
        }
        done += static_cast<std::size_t>(n);
      }
      ::close(fd);
      ++files;
      bytes += data.size();
    }
    return true;
  }

  std::string backing_;
  std::unordered_map<fuse_ino_t, Node> nodes_;
  fuse_ino_t next_ino_ = FUSE_ROOT_ID + 1;
  std::unordered_map<std::uint64_t, DirHandle> dir_handles_;  // open directories, by fh
  std::uint64_t next_dir_handle_ = 1;
  std::uint64_t file_syncs_ = 0;
  std::uint64_t dir_syncs_ = 0;
};

PowerLossFs* fs_of(fuse_req_t req) {
  return static_cast<PowerLossFs*>(fuse_req_userdata(req));
}

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops ops{};
  ops.init = [](void*, fuse_conn_info* conn) {
    // Every write must reach us when the program writes it: a kernel
    // write-back cache would sit between the program and our model.
    conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  };
  ops.lookup = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    fs_of(req)->lookup(req, parent, name);
  };
  ops.forget = [](fuse_req_t req, fuse_ino_t ino, std::uint64_t n) {
    fs_of(req)->forget(ino, n);
    fuse_reply_none(req);
  };
  ops.forget_multi = [](fuse_req_t req, std::size_t count, fuse_forget_data* forgets) {
    for (std::size_t i = 0; i < count; ++i) fs_of(req)->forget(forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
  };
  ops.getattr = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    fs_of(req)->getattr(req, ino);
  };
  ops.setattr = [](fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
    fs_of(req)->setattr(req, ino, attr, to_set);
  };
  ops.mknod = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
    fs_of(req)->mknod(req, parent, name, mode);
  };
  ops.mkdir = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    fs_of(req)->mkdir(req, parent, name, mode);
  };
  ops.unlink = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    fs_of(req)->unlink(req, parent, name);
  };
  ops.rmdir = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    fs_of(req)->rmdir(req, parent, name);
  };
  ops.rename = [](fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                  const char* newname, unsigned int flags) {
    fs_of(req)->rename(req, parent, name, newparent, newname, flags);
  };
  ops.link = [](fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) {
    fuse_reply_err(req, EPERM);
  };
  ops.symlink = [](fuse_req_t req, const char*, fuse_ino_t, const char*) {
    fuse_reply_err(req, EPERM);
  };
  ops.create = [](fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                  fuse_file_info* fi) { fs_of(req)->create(req, parent, name, mode, fi); };
  ops.open = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    fs_of(req)->open(req, ino, fi);
  };
  ops.read = [](fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off, fuse_file_info*) {
    fs_of(req)->read(req, ino, size, off);
  };
  ops.write = [](fuse_req_t req, fuse_ino_t ino, const char* buf, std::size_t size, off_t off,
                 fuse_file_info*) { fs_of(req)->write(req, ino, buf, size, off); };
  // flush (each close) and release (the last close) keep nothing: closing a
  // file is not syncing it.
  ops.flush = [](fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); };
  ops.release = [](fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); };
  ops.fsync = [](fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
    fs_of(req)->fsync(req, ino);
  };
  ops.opendir = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    fs_of(req)->opendir(req, ino, fi);
  };
  ops.readdir = [](fuse_req_t req, fuse_ino_t, std::size_t size, off_t off, fuse_file_info* fi) {
    fs_of(req)->readdir(req, size, off, fi);
  };
  ops.releasedir = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    fs_of(req)->releasedir(req, fi);
  };
  ops.fsyncdir = [](fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
    fs_of(req)->fsyncdir(req, ino);
  };
  ops.statfs = [](fuse_req_t req, fuse_ino_t) { fs_of(req)->statfs(req); };
  return ops;
}

fuse_session* g_session = nullptr;
volatile sig_atomic_t g_power_off = 0;

void on_power_off(int) {
  g_power_off = 1;
  if (g_session != nullptr) fuse_session_exit(g_session);
}

}  // namespace

int main(int argc, char** argv) {
  bool debug = argc == 4 && std::string(argv[3]) == "-d";
  if (argc != 3 && !debug) {
    fprintf(stderr,
            "usage: powerloss_fs BACKING MOUNTPOINT [-d]\n"
            "  SIGUSR1: power off (keep only what was fsynced); SIGTERM: clean unmount\n");
    return 2;
  }
  PowerLossFs pfs(argv[1]);
  std::string error;
  if (!pfs.load(error)) {
    fprintf(stderr, "powerloss_fs: %s\n", error.c_str());
    return 1;
  }

  fuse_args args = FUSE_ARGS_INIT(0, nullptr);
  fuse_opt_add_arg(&args, argv[0]);
  fuse_opt_add_arg(&args, "-o");
  fuse_opt_add_arg(&args, "fsname=powerloss_fs");
  if (debug) fuse_opt_add_arg(&args, "-d");
  fuse_lowlevel_ops ops = make_ops();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), &pfs);
  fuse_opt_free_args(&args);
  if (se == nullptr) {
    fprintf(stderr, "powerloss_fs: cannot create a FUSE session (libfuse3 said why above)\n");
    return 1;
  }
  g_session = se;
  if (fuse_set_signal_handlers(se) != 0) {
    fprintf(stderr, "powerloss_fs: cannot install signal handlers\n");
    return 1;
  }
  // No SA_RESTART: the signal must interrupt the read of /dev/fuse so the
  // loop sees that it has to stop.
  struct sigaction sa {};
  sa.sa_handler = on_power_off;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);

  if (fuse_session_mount(se, argv[2]) != 0) {
    fprintf(stderr,
            "powerloss_fs: cannot mount %s (needs /dev/fuse and root or fusermount3; "
            "libfuse3 said why above)\n",
            argv[2]);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return kSkipExitCode;
  }
  printf("powerloss_fs: mounted %s on %s\n", argv[2], argv[1]);
  fflush(stdout);
  fuse_session_loop(se);
  bool power_off = g_power_off != 0;
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  g_session = nullptr;

  std::size_t files = 0;
  std::uint64_t bytes = 0;
  if (!pfs.store(!power_off, error, files, bytes)) {
    fprintf(stderr, "powerloss_fs: %s\n", error.c_str());
    return 1;
  }
  printf("powerloss_fs: %s: %zu files, %llu bytes kept (%llu file syncs, %llu directory syncs)\n",
         power_off ? "power off, unsynced writes dropped" : "clean unmount, all synced", files,
         static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(pfs.file_syncs()),
         static_cast<unsigned long long>(pfs.dir_syncs()));
  fflush(stdout);
  return 0;
}
