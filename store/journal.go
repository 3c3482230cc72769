package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/jaminan/jaminan/internal/durable"
)

// journalChunk bounds a journal chunk (one change larger than that gets a chunk of its own).
// The chunks of a checkpoint are written to one journal file (writeJournal).
const journalChunk = 512 << 10

// encodeJournal serialises ops into chunks: each change is op(1: 0 set, 1 delete) | u32 key
// length | key | u32 value length | value. The digest covers every chunk with its length, so a
// journal with a missing or damaged chunk is detected.
func encodeJournal(ops []entry) ([][]byte, [32]byte) {
	var chunks [][]byte
	var cur []byte
	for _, e := range ops {
		if len(cur) > 0 && len(cur)+9+len(e.key)+len(e.val) > journalChunk {
			chunks = append(chunks, cur)
			cur = nil
		}
		op := byte(0)
		if e.del {
			op = 1
		}
		cur = append(cur, op)
		cur = appendU32(cur, uint32(len(e.key)))
		cur = append(cur, e.key...)
		cur = appendU32(cur, uint32(len(e.val)))
		cur = append(cur, e.val...)
	}
	if len(cur) > 0 || len(chunks) == 0 {
		chunks = append(chunks, cur)
	}
	return chunks, journalDigest(chunks)
}

func journalDigest(chunks [][]byte) [32]byte {
	h := sha256.New()
	for _, c := range chunks {
		h.Write(appendU32(nil, uint32(len(c))))
		h.Write(c)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// decodeJournal parses the chunks of encodeJournal.
func decodeJournal(chunks [][]byte) ([]entry, error) {
	var ops []entry
	for i, c := range chunks {
		for len(c) > 0 {
			if len(c) < 5 || c[0] > 1 {
				return nil, fmt.Errorf("chunk %d: bad change header", i)
			}
			del := c[0] == 1
			kl := binary.BigEndian.Uint32(c[1:])
			c = c[5:]
			if uint64(kl)+4 > uint64(len(c)) {
				return nil, fmt.Errorf("chunk %d: key of %d bytes overruns", i, kl)
			}
			key := c[:kl]
			vl := binary.BigEndian.Uint32(c[kl:])
			c = c[kl+4:]
			if uint64(vl) > uint64(len(c)) {
				return nil, fmt.Errorf("chunk %d: value of %d bytes overruns", i, vl)
			}
			ops = append(ops, entry{key: key, val: c[:vl], del: del})
			c = c[vl:]
		}
	}
	return ops, nil
}

// journalDir is the directory of the redo journals, inside the store's directory (badger
// ignores subdirectories).
const journalDir = "journal"

// journalMagic starts a journal file.
var journalMagic = []byte("JMNJRNL\x01")

// Journal file names: a file is written as <seq>.tmp and renamed to <seq>.journal at the commit
// point.
const (
	journalTmpExt = ".tmp"
	journalExt    = ".journal"
)

func journalName(seq uint64, ext string) string { return fmt.Sprintf("%020d%s", seq, ext) }

// encodeJournalFile is the content of a journal file: magic | seq(8) | chunk count(4) | per
// chunk: length(4) | chunk | SHA-256 of the chunks (journalDigest).
func encodeJournalFile(seq uint64, chunks [][]byte, digest [32]byte) []byte {
	n := len(journalMagic) + 12 + 32
	for _, c := range chunks {
		n += 4 + len(c)
	}
	b := make([]byte, 0, n)
	b = append(b, journalMagic...)
	b = appendU64(b, seq)
	b = appendU32(b, uint32(len(chunks)))
	for _, c := range chunks {
		b = appendU32(b, uint32(len(c)))
		b = append(b, c...)
	}
	return append(b, digest[:]...)
}

// decodeJournalFile parses and checks a journal file of checkpoint seq and returns its changes.
func decodeJournalFile(seq uint64, b []byte) ([]entry, error) {
	if len(b) < len(journalMagic)+12+32 || !bytes.Equal(b[:len(journalMagic)], journalMagic) {
		return nil, errors.New("not a journal file")
	}
	b = b[len(journalMagic):]
	if got := binary.BigEndian.Uint64(b); got != seq {
		return nil, fmt.Errorf("journal of checkpoint %d in the file of %d", got, seq)
	}
	n := binary.BigEndian.Uint32(b[8:])
	b = b[12:]
	if uint64(n) > uint64(len(b))/4 {
		return nil, fmt.Errorf("%d chunks in %d bytes", n, len(b))
	}
	chunks := make([][]byte, 0, n)
	for i := range n {
		if len(b) < 4 || uint64(binary.BigEndian.Uint32(b))+4 > uint64(len(b)) {
			return nil, fmt.Errorf("chunk %d of %d overruns the file", i, n)
		}
		l := binary.BigEndian.Uint32(b)
		chunks = append(chunks, b[4:4+l])
		b = b[4+l:]
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("%d bytes after the chunks, want the 32-byte digest", len(b))
	}
	if journalDigest(chunks) != [32]byte(b) {
		return nil, errors.New("chunks do not match the digest")
	}
	return decodeJournal(chunks)
}

// writeJournal makes the journal of checkpoint seq durable and commits it: the file is written
// and synced as <seq>.tmp, then renamed to <seq>.journal and the directory synced. The rename
// is the commit point: a crash before it leaves a .tmp file, which Open deletes.
func (s *Store) writeJournal(seq uint64, ops []entry) error {
	chunks, digest := encodeJournal(ops)
	dir := filepath.Join(s.dir, journalDir)
	tmp := filepath.Join(dir, journalName(seq, journalTmpExt))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	_, err = f.Write(encodeJournalFile(seq, chunks, digest))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	hook("journal-written")
	if err := os.Rename(tmp, filepath.Join(dir, journalName(seq, journalExt))); err != nil {
		return fmt.Errorf("commit journal: %w", err)
	}
	if err := durable.SyncDir(dir); err != nil {
		return fmt.Errorf("commit journal: %w", err)
	}
	return nil
}

// dropJournal deletes the journal of checkpoint seq once its changes are on disk, and syncs
// the directory: a deletion lost in a crash would have Open redo this checkpoint's changes
// over a later one's.
func (s *Store) dropJournal(seq uint64) error {
	dir := filepath.Join(s.dir, journalDir)
	if err := os.Remove(filepath.Join(dir, journalName(seq, journalExt))); err != nil {
		return err
	}
	return durable.SyncDir(dir)
}

// recoverJournals finishes the checkpoints whose journal was committed before the process
// stopped, in sequence order, then deletes every journal. A committed journal must be whole:
// it was synced before the rename that committed it, so a damaged one is corruption, not a
// torn write, and Open refuses the store.
func (s *Store) recoverJournals() error {
	if s.opts.InMemory {
		return nil
	}
	dir := filepath.Join(s.dir, journalDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create journal directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list journals: %w", err)
	}
	var committed []uint64
	var uncommitted []string
	for _, e := range entries {
		name := e.Name()
		switch ext := filepath.Ext(name); ext {
		case journalExt, journalTmpExt:
			seq, err := strconv.ParseUint(strings.TrimSuffix(name, ext), 10, 64)
			if err != nil || name != journalName(seq, ext) || !e.Type().IsRegular() {
				return fmt.Errorf("%w: unexpected file %s in the journal directory", ErrCorrupt, name)
			}
			if ext == journalExt {
				committed = append(committed, seq)
			} else {
				uncommitted = append(uncommitted, name)
			}
		default:
			return fmt.Errorf("%w: unexpected file %s in the journal directory", ErrCorrupt, name)
		}
	}
	slices.Sort(committed)
	for _, seq := range committed {
		raw, err := os.ReadFile(filepath.Join(dir, journalName(seq, journalExt)))
		if err != nil {
			return fmt.Errorf("read journal of checkpoint %d: %w", seq, err)
		}
		ops, err := decodeJournalFile(seq, raw)
		if err != nil {
			return fmt.Errorf("%w: journal of checkpoint %d: %w", ErrCorrupt, seq, err)
		}
		if err := s.redo(ops); err != nil {
			return fmt.Errorf("re-apply journal of checkpoint %d: %w", seq, err)
		}
		s.redone++
		s.log.Info("re-applied the journal of an interrupted checkpoint", "seq", seq, "changes", len(ops))
	}
	for _, seq := range committed {
		if err := os.Remove(filepath.Join(dir, journalName(seq, journalExt))); err != nil {
			return fmt.Errorf("drop journal of checkpoint %d: %w", seq, err)
		}
	}
	for _, name := range uncommitted {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("drop uncommitted journal %s: %w", name, err)
		}
	}
	if len(uncommitted) > 0 {
		s.log.Info("dropped the journal of a checkpoint interrupted before its commit", "files", len(uncommitted))
	}
	if len(committed)+len(uncommitted) > 0 {
		if err := durable.SyncDir(dir); err != nil {
			return fmt.Errorf("drop journals: %w", err)
		}
	}
	return nil
}
