package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// preflight checks the files of an existing store before badger opens them.
//
// Why: badger opens the tables listed in the MANIFEST in goroutines of its own, and parses a
// table's footer and last block before it checks their checksums; damaged bytes there make it
// panic (slice bounds) where no caller can recover, and its compactions read blocks the same
// way. And it truncates a MANIFEST at the first incomplete change set, which silently forgets
// the tables added after that point. So the store refuses, with ErrCorrupt:
//   - data files (.sst, .vlog, .mem) without a MANIFEST;
//   - a MANIFEST that does not replay to its very end (truncated, torn or damaged);
//   - a live table that is missing, or whose index or any block fails its checksum (each table is
//     opened here, in this goroutine, under recover).
//
// Value-log entries carry their own CRC, checked on every read (VerifyValueChecksum); the
// memtable logs (.mem) are replayed by badger up to the first damaged entry, like a crash.
func preflight(dir string, opts Options) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	data := ""
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext == ".sst" || ext == ".vlog" || ext == ".mem" {
			data = e.Name()
			break
		}
	}
	f, err := os.Open(filepath.Join(dir, badger.ManifestFilename))
	if errors.Is(err, os.ErrNotExist) {
		if data != "" {
			return fmt.Errorf("%w: %s present but no %s", ErrCorrupt, data, badger.ManifestFilename)
		}
		return nil // a new store
	}
	if err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	m, end, err := replayManifest(f, badgerOptions(dir, opts, slog.New(slog.DiscardHandler)))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, badger.ManifestFilename, err)
	}
	if end != fi.Size() {
		return fmt.Errorf("%w: %s: %d of %d bytes replay; the rest is a truncated or damaged change set",
			ErrCorrupt, badger.ManifestFilename, end, fi.Size())
	}
	for id, tm := range m.Tables {
		if err := verifyTable(table.NewFilename(id, dir), tm); err != nil {
			return fmt.Errorf("%w: table %d: %v", ErrCorrupt, id, err)
		}
	}
	return nil
}

func replayManifest(f *os.File, bo badger.Options) (m badger.Manifest, end int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("damaged (badger failed replaying it: %v)", firstLine(r))
		}
	}()
	return badger.ReplayManifestFile(f, bo.ExternalMagicVersion, bo)
}

// verifyTable opens one table read-only and checks the checksums of its index and every block.
func verifyTable(path string, tm badger.TableManifest) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s is damaged (badger failed reading it: %v)", filepath.Base(path), firstLine(r))
		}
	}()
	if tm.KeyID != 0 {
		return errors.New("encrypted tables are not used by this store")
	}
	fd, err := os.Open(path)
	if err != nil {
		return err
	}
	// OpenTable closes the mapping on some of its errors and not on others; after an error only
	// the descriptor is closed here (closing an os.File twice is harmless, unmapping twice is
	// not), so a damaged table may leave its read-only mapping behind in a store that then
	// refuses to open.
	defer fd.Close()
	mf, err := z.OpenMmapFileUsing(fd, 0, false)
	if err != nil {
		return err
	}
	t, err := table.OpenTable(mf, table.Options{
		ChkMode:     options.OnTableRead,
		Compression: tm.Compression,
		BlockSize:   badger.DefaultOptions("").BlockSize,
	})
	if err != nil {
		return err
	}
	return t.MmapFile.Close(-1)
}

func firstLine(v any) string {
	s := fmt.Sprint(v)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
