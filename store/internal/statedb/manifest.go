package statedb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jaminan/jaminan/internal/durable"
)

// castagnoli is the CRC32C table of every checksum in the engine's files.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	manifestName    = "MANIFEST"
	manifestVersion = 1
	// manifestFixed is the size of a manifest without its runs: magic, version, flags, flushed,
	// next file, WAL, run count, CRC.
	manifestFixed = 8 + 4 + 4 + 8 + 8 + 8 + 4 + 4
	// manifestRun is the size of one run in a manifest: number and size.
	manifestRun = 16
	// flagFlushed marks a manifest whose runs hold the state as of its flushed seq.
	flagFlushed = 1

	runExt = ".run"
	walExt = ".wal"
	tmpExt = ".tmp"
)

var manifestMagic = [8]byte{'J', 'M', 'N', 'S', 'T', 'D', 'B', 'M'}

// runMeta names a run file in the manifest.
type runMeta struct {
	num  uint64
	size int64
}

// manifest is the content of the MANIFEST file: which files hold the state.
type manifest struct {
	flushed      uint64 // the runs hold the state as of this checkpoint (if flushedValid)
	flushedValid bool   // false until the first flush or Build
	nextFile     uint64 // every file number in use is below it
	wal          uint64 // number of the current WAL file
	runs         []runMeta
}

func fileName(num uint64, ext string) string { return fmt.Sprintf("%06d%s", num, ext) }

func runName(num uint64) string { return fileName(num, runExt) }

func walName(num uint64) string { return fileName(num, walExt) }

// parseFileName parses a run or WAL file name written by fileName.
func parseFileName(name string) (num uint64, ext string, ok bool) {
	ext = filepath.Ext(name)
	if ext != runExt && ext != walExt {
		return 0, "", false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(name, ext), 10, 64)
	if err != nil || fileName(n, ext) != name {
		return 0, "", false
	}
	return n, ext, true
}

// encode serialises m: magic | u32 version | u32 flags | u64 flushed | u64 next file | u64 WAL
// | u32 run count | count × (u64 number | u64 size), newest run first | u32 CRC32C of all before.
func (m *manifest) encode() []byte {
	b := make([]byte, 0, manifestFixed+manifestRun*len(m.runs))
	b = append(b, manifestMagic[:]...)
	b = binary.BigEndian.AppendUint32(b, manifestVersion)
	var flags uint32
	if m.flushedValid {
		flags |= flagFlushed
	}
	b = binary.BigEndian.AppendUint32(b, flags)
	b = binary.BigEndian.AppendUint64(b, m.flushed)
	b = binary.BigEndian.AppendUint64(b, m.nextFile)
	b = binary.BigEndian.AppendUint64(b, m.wal)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.runs)))
	for _, r := range m.runs {
		b = binary.BigEndian.AppendUint64(b, r.num)
		b = binary.BigEndian.AppendUint64(b, uint64(r.size))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeManifest parses and checks a manifest; every error wraps ErrCorrupt.
func decodeManifest(b []byte) (*manifest, error) {
	if len(b) < manifestFixed {
		return nil, corruptf("%d bytes, shorter than a manifest", len(b))
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, corruptf("checksum mismatch")
	}
	if !bytes.Equal(body[:8], manifestMagic[:]) {
		return nil, corruptf("not a manifest")
	}
	if v := binary.BigEndian.Uint32(body[8:]); v != manifestVersion {
		return nil, corruptf("format version %d, want %d", v, manifestVersion)
	}
	flags := binary.BigEndian.Uint32(body[12:])
	if flags&^flagFlushed != 0 {
		return nil, corruptf("unknown flags %#x", flags)
	}
	m := &manifest{
		flushedValid: flags&flagFlushed != 0,
		flushed:      binary.BigEndian.Uint64(body[16:]),
		nextFile:     binary.BigEndian.Uint64(body[24:]),
		wal:          binary.BigEndian.Uint64(body[32:]),
	}
	n := binary.BigEndian.Uint32(body[40:])
	rest := body[44:]
	if uint64(len(rest)) != uint64(n)*manifestRun {
		return nil, corruptf("%d runs in %d bytes", n, len(rest))
	}
	if !m.flushedValid && (m.flushed != 0 || n != 0) {
		return nil, corruptf("runs or a flushed seq without the flushed flag")
	}
	if m.wal == 0 || m.wal >= m.nextFile {
		return nil, corruptf("WAL number %d, next file %d", m.wal, m.nextFile)
	}
	seen := make(map[uint64]bool, n)
	m.runs = make([]runMeta, 0, n)
	for i := range n {
		num := binary.BigEndian.Uint64(rest[i*manifestRun:])
		size := binary.BigEndian.Uint64(rest[i*manifestRun+8:])
		if num == 0 || num >= m.nextFile || num == m.wal || seen[num] {
			return nil, corruptf("run %d: bad file number %d", i, num)
		}
		if size < footerSize || size > 1<<62 {
			return nil, corruptf("run %d: bad size %d", i, size)
		}
		seen[num] = true
		m.runs = append(m.runs, runMeta{num: num, size: int64(size)})
	}
	return m, nil
}

// readManifest reads the manifest of dir; nil, nil if there is none.
func readManifest(dir string) (*manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("statedb: read %s: %w", manifestName, err)
	}
	m, err := decodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("statedb: read %s: %w", manifestName, err)
	}
	return m, nil
}

// writeManifest replaces the manifest of dir atomically and durably.
func writeManifest(dir string, m *manifest) error {
	if err := durable.WriteFile(filepath.Join(dir, manifestName), m.encode(), 0o600); err != nil {
		return fmt.Errorf("statedb: write %s: %w", manifestName, err)
	}
	return nil
}

// corruptf returns an error wrapping ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
