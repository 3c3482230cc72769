// Package statedb holds the ledger's key-value state of one node outside badger: recent
// writes in a memtable backed by a write-ahead log, the rest in immutable sorted run files
// merged in the background (a small size-tiered LSM tree).
//
// The caller appends the writes of each checkpoint (seq 1, 2, …; genesis is 0) before it
// commits the checkpoint itself, then reports the commit (Committed). Reads go through
// snapshots at a checkpoint, which keep the memtable and runs they saw.
//
// # Files in the directory
//
// All integers are big-endian; every checksum is CRC32C (Castagnoli).
//
// MANIFEST, written with durable.WriteFile (temp file, fsync, rename, directory fsync):
//
//	magic "JMNSTDBM" | u32 version (1) | u32 flags (bit 0: the runs hold the state as of
//	the flushed seq) | u64 flushed seq | u64 next file number | u64 first WAL number |
//	u32 run count | count × (u64 run number | u64 run size), NEWEST run first |
//	u32 CRC32C of all the preceding bytes
//
// No MANIFEST and no run or WAL file means a fresh engine; run or WAL files without a
// MANIFEST are corruption. Open removes run files the MANIFEST does not name, WAL files
// numbered before its WAL, and *.tmp files: leftovers of an interrupted flush or compaction.
//
// NNNNNN.wal: the MANIFEST's WAL and every WAL numbered after it (a flush starts a new WAL
// when it freezes the memtable, before a MANIFEST names it), replayed in number order as
// one log. Each is a sequence of records, one per Append, each written and fsynced at once:
//
//	u32 payload length | u32 CRC32C(payload) | payload
//	payload: uvarint seq | uvarint count | count × (uvarint klen | key | byte flag (0 put,
//	1 delete) | [uvarint vlen | value, if put])
//
// Seqs never decrease; a record with the seq of the record before replaces it (a retried
// checkpoint). Every seq in the WALs is above the flushed seq. Open replays the records with
// seq <= applied, truncates the file before the first later one and removes the WALs after
// it. A bad record (short, checksum, format) that ends the last WAL, or is followed only by
// zero bytes, is a torn tail: it is dropped if every checkpoint up to applied was already
// read (or applied is 0), else the WAL is corrupt; a bad record followed by other data, or
// at the end of a WAL that has a successor (sealed after its last record was synced), is
// corruption. Payloads are bounded to 256 MiB, keys to 64 KiB, values to 64 MiB.
//
// NNNNNN.run, an immutable sorted run:
//
//	data blocks: entries uvarint klen | key | byte flag | [uvarint vlen | value], keys
//	  strictly ascending, an entry never spans blocks (a block is cut before it would pass
//	  BlockSize); each block stored as data (S2-compressed if Options.Compress and that
//	  saves 1/8) | byte compression (0 none, 1 S2) | u32 CRC32C of data and compression byte
//	bloom filter: byte k (7) | bits, ~10 bits a key in 512-bit (cache-line) blocks; with
//	  h = xxhash64(key), the block is the high 64 bits of h × blocks, and probe i < k sets
//	  bit (h1 + i·δ) mod 512 of it, h1 = low 32 bits of h, δ = h1 rotated right by 17
//	index table: (blocks + 1) fixed 20-byte entries u64 prefix | u64 block offset | u32 key
//	  offset: per block the first 8 bytes of its first key (zero-padded, big-endian), where
//	  it starts and where its first key starts in the index keys; a last entry (prefix 0,
//	  the end of the data blocks, the length of the index keys) closes the final block
//	index keys: the first key of every block, concatenated
//	footer (100 bytes): u64 bloom offset | u64 bloom length | u64 table offset | u64 blocks |
//	  u64 keys offset | u64 keys length | u64 entries | u64 min seq | u64 max seq
//	  (checkpoints covered) | u32 CRC32C of bloom | u32 CRC32C of table | u32 CRC32C of keys
//	  | u32 version (2) | u32 CRC32C of the footer's first 88 bytes | magic "JMNSDRUN"
//
// A run of another version is refused as corruption. The bloom filter and the index are
// read in place through a read-only shared mapping of the file (binary search over the
// fixed-width table), so they live in the page cache, not in the process's heap; data
// blocks are read with pread. The mapping goes when the run's last reference does. A run
// being written spills its index to unlinked temporary files and keeps a large bloom
// filter in a mapped unlinked temporary file, then copies both after the data blocks.
//
// Open checks each run's size against the MANIFEST before mapping it, then its footer,
// bloom filter and index: checksums over the mapped bytes, blocks contiguous and of a
// plausible size, first keys strictly ascending with matching prefixes (Options.VerifyAll:
// every block too); reads check each block's checksum, so damage gives
// ErrCorrupt, never wrong data. Runs hold tombstones (deletes) except where a flush had no
// older run or a merge included the oldest run.
//
// # Flush
//
// Committed(seq) freezes the memtable when it holds Options.MemBytes of keys and values and
// only committed checkpoints: a new WAL (its directory entry fsynced) and a new memtable take
// the Appends from then on, and reads see the frozen memtable until its run is installed. A
// background goroutine writes the newest version of each of its keys to a new run (deletes
// become tombstones unless there are no runs), fsynced; the new MANIFEST (new run first,
// flushed = the frozen memtable's newest seq, the new WAL) is the commit point; then the WALs
// before the new one are deleted. A crash before the MANIFEST leaves a run file that Open
// removes and WALs that it replays; after it, old WALs that Open removes. One flush runs at a
// time: a Committed that finds the next memtable full while it runs waits for it (the only
// wait a flush puts on the writer). A failed flush (an I/O error, or Options.WriteGuard)
// keeps the frozen memtable; the next Committed returns its error and tries again. Close
// abandons a flush in progress (Open replays its WALs).
//
// # Compaction
//
// A background goroutine, signalled after each flush, merges runs. In age order, newest
// first, it picks the newest window of at least 4 (at most 16) adjacent runs whose sizes are
// within a factor 4 of each other; failing that, with more than 24 runs, the 4 adjacent runs
// of the smallest total size. It only ever merges adjacent runs, so the run count stays
// O(log(total/MemBytes)). The merge keeps the newest entry of each key and drops tombstones
// only if the window includes the oldest run. The new run is written and fsynced, then
// installed: new MANIFEST, new in-memory state, unlink of the inputs (open snapshots keep
// reading them; their files close with the last reference). Errors are logged and the
// compaction retried later; Close abandons a merge between blocks.
package statedb
