// The test vectors of pkg/lisafs/README.md §10, as hex dumps in its format
// (offsets included; parse them with testutil::HexToBytes). Tests that need a
// vector take it from here, so each is written down once.

#ifndef GVISOR_PKG_LISAFS_WIRE_VECTORS_H_
#define GVISOR_PKG_LISAFS_WIRE_VECTORS_H_

namespace gvisor::lisafs::vectors {

// V0. Statx S_DEV (payload fragment, no header) — 144 bytes total
inline constexpr char kV0[] = R"(
0000: ff 0f 00 00 00 10 00 00 00 00 00 00 00 00 00 00
0010: 05 00 00 00 00 00 00 00 00 00 00 00 ed 41 00 00
0020: 01 00 00 00 00 00 00 00 00 0f 00 00 00 00 00 00
0030: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0040: 00 f1 53 65 00 00 00 00 01 00 00 00 00 00 00 00
0050: 00 f1 53 65 00 00 00 00 02 00 00 00 00 00 00 00
0060: 00 f1 53 65 00 00 00 00 03 00 00 00 00 00 00 00
0070: 00 f1 53 65 00 00 00 00 04 00 00 00 00 00 00 00
0080: 00 00 00 00 00 00 00 00 00 00 00 00 05 00 00 00)";

// V1. Mount request (client → server) — 8 bytes total
inline constexpr char kV1[] = R"(
0000: 00 00 00 00 01 00 00 00)";

// V2. Mount response (server → client) — 230 bytes total
inline constexpr char kV2[] = R"(
0000: de 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00
0010: ff 0f 00 00 00 10 00 00 00 00 00 00 00 00 00 00
0020: 05 00 00 00 00 00 00 00 00 00 00 00 ed 41 00 00
0030: 01 00 00 00 00 00 00 00 00 0f 00 00 00 00 00 00
0040: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0050: 00 f1 53 65 00 00 00 00 01 00 00 00 00 00 00 00
0060: 00 f1 53 65 00 00 00 00 02 00 00 00 00 00 00 00
0070: 00 f1 53 65 00 00 00 00 03 00 00 00 00 00 00 00
0080: 00 f1 53 65 00 00 00 00 04 00 00 00 00 00 00 00
0090: 00 00 00 00 00 00 00 00 00 00 00 00 05 00 00 00
00a0: 00 f0 1f 00 20 00 01 00 02 00 03 00 04 00 05 00
00b0: 06 00 07 00 08 00 09 00 0a 00 0b 00 0c 00 0d 00
00c0: 0e 00 0f 00 10 00 11 00 12 00 13 00 15 00 16 00
00d0: 17 00 18 00 19 00 1a 00 1b 00 1c 00 1d 00 1e 00
00e0: 1f 00 20 00 21 00)";

// V3. Walk request: dir FDID 1, path ["nvidia-caps", "nvidia-cap1"] — 44 bytes
// total
inline constexpr char kV3[] = R"(
0000: 24 00 00 00 05 00 00 00 01 00 00 00 00 00 00 00
0010: 02 00 0b 00 6e 76 69 64 69 61 2d 63 61 70 73 0b
0020: 00 6e 76 69 64 69 61 2d 63 61 70 31)";

// V4. Walk response: Success, 2 inodes (FDID 2 = nvidia-caps dir, FDID 3 =
// nvidia-cap1 char dev) — 315 bytes total
inline constexpr char kV4[] = R"(
0000: 33 01 00 00 05 00 00 00 00 02 00 02 00 00 00 00
0010: 00 00 00 ff 0f 00 00 00 10 00 00 00 00 00 00 00
0020: 00 00 00 02 00 00 00 00 00 00 00 00 00 00 00 ed
0030: 41 00 00 1c 00 00 00 00 00 00 00 3c 00 00 00 00
0040: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0050: 00 00 00 00 f1 53 65 00 00 00 00 01 00 00 00 00
0060: 00 00 00 00 f1 53 65 00 00 00 00 02 00 00 00 00
0070: 00 00 00 00 f1 53 65 00 00 00 00 03 00 00 00 00
0080: 00 00 00 00 f1 53 65 00 00 00 00 04 00 00 00 00
0090: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 05
00a0: 00 00 00 03 00 00 00 00 00 00 00 ff 0f 00 00 00
00b0: 10 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00
00c0: 00 00 00 00 00 00 00 24 21 00 00 1d 00 00 00 00
00d0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00e0: 00 00 00 00 00 00 00 00 00 00 00 00 f1 53 65 00
00f0: 00 00 00 01 00 00 00 00 00 00 00 00 f1 53 65 00
0100: 00 00 00 02 00 00 00 00 00 00 00 00 f1 53 65 00
0110: 00 00 00 03 00 00 00 00 00 00 00 00 f1 53 65 00
0120: 00 00 00 04 00 00 00 00 00 00 00 ec 00 00 00 01
0130: 00 00 00 00 00 00 00 05 00 00 00)";

// V4b. Walk response: first component does not exist — 11 bytes total
inline constexpr char kV4b[] = R"(
0000: 03 00 00 00 05 00 00 00 01 00 00)";

// V4c. Walk response: second component does not exist (1 inode) — 163 bytes
// total
inline constexpr char kV4c[] = R"(
0000: 9b 00 00 00 05 00 00 00 01 01 00 02 00 00 00 00
0010: 00 00 00 ff 0f 00 00 00 10 00 00 00 00 00 00 00
0020: 00 00 00 02 00 00 00 00 00 00 00 00 00 00 00 ed
0030: 41 00 00 1c 00 00 00 00 00 00 00 3c 00 00 00 00
0040: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0050: 00 00 00 00 f1 53 65 00 00 00 00 01 00 00 00 00
0060: 00 00 00 00 f1 53 65 00 00 00 00 02 00 00 00 00
0070: 00 00 00 00 f1 53 65 00 00 00 00 03 00 00 00 00
0080: 00 00 00 00 f1 53 65 00 00 00 00 04 00 00 00 00
0090: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 05
00a0: 00 00 00)";

// V5a. OpenAt request: control FDID 3, flags O_RDWR (2) — 24 bytes total
inline constexpr char kV5a[] = R"(
0000: 10 00 00 00 07 00 00 00 03 00 00 00 00 00 00 00
0010: 02 00 00 00 00 00 00 00)";

// V5b. OpenAt response: open FDID 4 — 16 bytes total
inline constexpr char kV5b[] = R"(
0000: 08 00 00 00 07 00 00 00 04 00 00 00 00 00 00 00)";

// V6a. Close request: FDIDs [2, 3, 4] — 34 bytes total
inline constexpr char kV6a[] = R"(
0000: 1a 00 00 00 09 00 00 00 03 00 02 00 00 00 00 00
0010: 00 00 03 00 00 00 00 00 00 00 04 00 00 00 00 00
0020: 00 00)";

// V6b. Close response — 8 bytes total
inline constexpr char kV6b[] = R"(
0000: 00 00 00 00 09 00 00 00)";

// V7. Error response, ENOENT (2) — 12 bytes total
inline constexpr char kV7[] = R"(
0000: 04 00 00 00 00 00 00 00 02 00 00 00)";

// V8a. Getdents64 request: open FDID 4, count 65536 — 24 bytes total
inline constexpr char kV8a[] = R"(
0000: 10 00 00 00 18 00 00 00 04 00 00 00 00 00 00 00
0010: 00 00 01 00 00 00 00 00)";

// V8b. Getdents64 request with seek-to-0: count −65536 — 24 bytes total
inline constexpr char kV8b[] = R"(
0000: 10 00 00 00 18 00 00 00 04 00 00 00 00 00 00 00
0010: 00 00 ff ff 00 00 00 00)";

// V8c. Getdents64 response with two entries — 82 bytes total
inline constexpr char kV8c[] = R"(
0000: 4a 00 00 00 18 00 00 00 02 00 1e 00 00 00 00 00
0010: 00 00 05 00 00 00 00 00 00 00 71 60 5f 4e 3d 2c
0020: 1b 0a 02 07 00 6e 76 69 64 69 61 30 1c 00 00 00
0030: 00 00 00 00 05 00 00 00 00 00 00 00 ff ff ff ff
0040: ff ff ff 7f 04 0b 00 6e 76 69 64 69 61 2d 63 61
0050: 70 73)";

// V8d. Getdents64 response, end of directory — 10 bytes total
inline constexpr char kV8d[] = R"(
0000: 02 00 00 00 18 00 00 00 00 00)";

// V9a. FStat request: FDID 3 — 16 bytes total
inline constexpr char kV9a[] = R"(
0000: 08 00 00 00 03 00 00 00 03 00 00 00 00 00 00 00)";

// V9b. FStat response: S_CAP1 — 152 bytes total
inline constexpr char kV9b[] = R"(
0000: 90 00 00 00 03 00 00 00 ff 0f 00 00 00 10 00 00
0010: 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00
0020: 00 00 00 00 24 21 00 00 1d 00 00 00 00 00 00 00
0030: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0040: 00 00 00 00 00 00 00 00 00 f1 53 65 00 00 00 00
0050: 01 00 00 00 00 00 00 00 00 f1 53 65 00 00 00 00
0060: 02 00 00 00 00 00 00 00 00 f1 53 65 00 00 00 00
0070: 03 00 00 00 00 00 00 00 00 f1 53 65 00 00 00 00
0080: 04 00 00 00 00 00 00 00 ec 00 00 00 01 00 00 00
0090: 00 00 00 00 05 00 00 00)";

// V10a. Channel request — 8 bytes total
inline constexpr char kV10a[] = R"(
0000: 00 00 00 00 02 00 00 00)";

// V10b. Channel response: offset 0, length 2 MiB — 24 bytes total
inline constexpr char kV10b[] = R"(
0000: 10 00 00 00 02 00 00 00 00 00 00 00 00 00 00 00
0010: 00 00 20 00 00 00 00 00)";

// V11. MkdirAt request: dir FDID 1, uid 1000, gid 1000, mode 0o755, name "d" —
// 35 bytes total
inline constexpr char kV11[] = R"(
0000: 1b 00 00 00 0d 00 00 00 01 00 00 00 00 00 00 00
0010: e8 03 00 00 e8 03 00 00 ed 01 00 00 00 00 00 00
0020: 01 00 64)";

// V12. RenameAt2 request: old_dir 1, new_dir 2, "a" → "b", flags
// RENAME_NOREPLACE (1) — 34 bytes total
inline constexpr char kV12[] = R"(
0000: 1a 00 00 00 21 00 00 00 01 00 00 00 00 00 00 00
0010: 02 00 00 00 00 00 00 00 01 00 61 01 00 62 01 00
0020: 00 00)";

// V13a. PWrite request: offset 0x10, open FDID 4, 3 bytes "abc" — 31 bytes
// total
inline constexpr char kV13a[] = R"(
0000: 17 00 00 00 0b 00 00 00 10 00 00 00 00 00 00 00
0010: 04 00 00 00 00 00 00 00 03 00 00 00 61 62 63)";

// V13b. PWrite response: 3 bytes written — 16 bytes total
inline constexpr char kV13b[] = R"(
0000: 08 00 00 00 0b 00 00 00 03 00 00 00 00 00 00 00)";

// V13c. PRead request: offset 0, open FDID 4, count 4096 — 32 bytes total
inline constexpr char kV13c[] = R"(
0000: 18 00 00 00 0c 00 00 00 00 00 00 00 00 00 00 00
0010: 04 00 00 00 00 00 00 00 00 10 00 00 00 00 00 00)";

// V13d. PRead response: 3 bytes "xyz" — 19 bytes total
inline constexpr char kV13d[] = R"(
0000: 0b 00 00 00 0c 00 00 00 03 00 00 00 00 00 00 00
0010: 78 79 7a)";

// V14a. SetStat request: FDID 3, mask MODE|SIZE (0x202), mode 0o644, uid/gid
// none, size 4096 — 72 bytes total
inline constexpr char kV14a[] = R"(
0000: 40 00 00 00 04 00 00 00 03 00 00 00 00 00 00 00
0010: 02 02 00 00 a4 01 00 00 ff ff ff ff ff ff ff ff
0020: 00 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0030: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0040: 00 00 00 00 00 00 00 00)";

// V14b. SetStat response: size change failed with EPERM — 16 bytes total
inline constexpr char kV14b[] = R"(
0000: 08 00 00 00 04 00 00 00 00 02 00 00 01 00 00 00)";

}  // namespace gvisor::lisafs::vectors

#endif  // GVISOR_PKG_LISAFS_WIRE_VECTORS_H_
