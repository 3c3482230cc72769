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
//	the flushed seq) | u64 flushed seq | u64 next file number | u64 current WAL number |
//	u32 run count | count × (u64 run number | u64 run size), NEWEST run first |
//	u32 CRC32C of all the preceding bytes
//
// No MANIFEST and no run or WAL file means a fresh engine; run or WAL files without a
// MANIFEST are corruption. Open removes run and WAL files the MANIFEST does not name, and
// *.tmp files: leftovers of an interrupted flush or compaction.
//
// NNNNNN.wal, the current WAL (the number is in the MANIFEST): a sequence of records, one per
// Append, each written and fsynced at once:
//
//	u32 payload length | u32 CRC32C(payload) | payload
//	payload: uvarint seq | uvarint count | count × (uvarint klen | key | byte flag (0 put,
//	1 delete) | [uvarint vlen | value, if put])
//
// Seqs never decrease; a record with the seq of the record before replaces it (a retried
// checkpoint). Every seq in the WAL is above the flushed seq. Open replays the records with
// seq <= applied and truncates the file before the first later one. A bad record (short,
// checksum, format) that ends the file, or is followed only by zero bytes, is a torn tail:
// it is dropped if every checkpoint up to applied was already read (or applied is 0), else
// the WAL is corrupt; a bad record followed by other data is corruption. Payloads are
// bounded to 256 MiB, keys to 64 KiB, values to 64 MiB.
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
//	index: per block uvarint klen | first key | uvarint offset | uvarint stored length
//	footer (80 bytes): u64 bloom offset | u64 bloom length | u64 index offset | u64 index
//	  length | u64 entries | u64 min seq | u64 max seq (checkpoints covered) | u32 CRC32C of
//	  bloom | u32 CRC32C of index | u32 version (1) | u32 CRC32C of the footer's first 68
//	  bytes | magic "JMNSDRUN"
//
// Open checks each run's size against the MANIFEST and its footer, bloom filter and index
// (Options.VerifyAll: every block too); reads check each block's checksum, so damage gives
// ErrCorrupt, never wrong data. Runs hold tombstones (deletes) except where a flush had no
// older run or a merge included the oldest run.
//
// # Flush
//
// Committed(seq) flushes when the memtable holds Options.MemBytes of keys and values: the
// newest version <= seq of each key goes to a new run (deletes become tombstones unless there
// are no runs), written and fsynced; versions after seq (appended but not yet committed) are
// rewritten to a new WAL, fsynced; the new MANIFEST (new run first, flushed = seq, new WAL)
// is the commit point; then the old WAL is deleted. A crash before the MANIFEST leaves
// leftovers that Open removes; after it, an old WAL that Open removes.
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
