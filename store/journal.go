package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// journalChunk bounds a journal chunk (one change larger than that gets a chunk of its own).
// Chunks are values of their own keys, so they land in the value log: sequential appends,
// reclaimed by the value-log GC.
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

// recoverJournals finishes the checkpoints whose journal was committed before the process
// stopped, in sequence order, then deletes every journal. A committed journal must be whole:
// its chunks were on disk before its commit record was written, so a damaged one is corruption,
// not a torn write.
func (s *Store) recoverJournals() error {
	type commit struct {
		seq    uint64
		chunks uint32
		digest [32]byte
	}
	var commits []commit
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxCommit}, PrefetchValues: false})
		defer it.Close()
		for it.Seek([]byte{pfxCommit}); it.ValidForPrefix([]byte{pfxCommit}); it.Next() {
			key := it.Item().Key()
			val, err := itemValue(it.Item())
			if err != nil {
				return err
			}
			if len(key) != 9 || len(val) != 36 {
				return fmt.Errorf("%w: journal commit record %x", ErrCorrupt, key)
			}
			c := commit{seq: binary.BigEndian.Uint64(key[1:]), chunks: binary.BigEndian.Uint32(val)}
			copy(c.digest[:], val[4:])
			commits = append(commits, c)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list journals: %w", err)
	}
	slices.SortFunc(commits, func(a, b commit) int { return cmpU64(a.seq, b.seq) })
	for _, c := range commits {
		var chunks [][]byte
		err := s.db.View(func(txn *badger.Txn) error {
			for i := range c.chunks {
				v, err := getValue(txn, journalKey(c.seq, i))
				if errors.Is(err, badger.ErrKeyNotFound) {
					return fmt.Errorf("%w: journal of checkpoint %d lacks chunk %d of %d", ErrCorrupt, c.seq, i, c.chunks)
				}
				if err != nil {
					return fmt.Errorf("journal of checkpoint %d chunk %d: %w", c.seq, i, err)
				}
				chunks = append(chunks, v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if journalDigest(chunks) != c.digest {
			return fmt.Errorf("%w: journal of checkpoint %d does not match its digest", ErrCorrupt, c.seq)
		}
		ops, err := decodeJournal(chunks)
		if err != nil {
			return fmt.Errorf("%w: journal of checkpoint %d: %w", ErrCorrupt, c.seq, err)
		}
		if err := s.redo(ops); err != nil {
			return fmt.Errorf("re-apply journal of checkpoint %d: %w", c.seq, err)
		}
		s.redone++
		s.log.Info("re-applied the journal of an interrupted checkpoint", "seq", c.seq, "changes", len(ops))
	}
	for _, c := range commits {
		if err := s.dropJournal(c.seq, int(c.chunks)); err != nil {
			return fmt.Errorf("drop journal of checkpoint %d: %w", c.seq, err)
		}
	}
	n, err := s.deletePrefix([]byte{pfxJournal})
	if err != nil {
		return fmt.Errorf("drop uncommitted journal: %w", err)
	}
	if n > 0 {
		s.log.Info("dropped the journal of a checkpoint interrupted before its commit", "chunks", n)
	}
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
