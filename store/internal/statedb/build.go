package statedb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jaminan/jaminan/internal/durable"
)

// Build creates a fresh engine in dir (which must not exist or be empty) holding exactly the
// pairs produced by next, in strictly ascending key order (else ErrOrder), as of checkpoint
// seq (flushed = seq): one run, an empty WAL and a manifest, all fsynced. It imports a state
// snapshot. next returns ok=false at the end; k and v are valid until the next call. On
// error Build removes the files it created.
func Build(dir string, seq uint64, next func() (k, v []byte, ok bool, err error), opts Options) (err error) {
	opts = opts.withDefaults()
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("statedb: build in %s: %w", dir, err)
		}
	case err != nil:
		return fmt.Errorf("statedb: build in %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("statedb: build in %s: the directory is not empty", dir)
	}
	if opts.WriteGuard != nil {
		if err := opts.WriteGuard(); err != nil {
			return fmt.Errorf("statedb: build in %s: %w", dir, err)
		}
	}
	const runNum, walNum = 1, 2
	var created []string
	defer func() {
		if err != nil {
			for _, name := range created {
				_ = os.Remove(filepath.Join(dir, name))
			}
		}
	}()
	w, err := createRun(dir, runNum, opts, 0, nil)
	if err != nil {
		return fmt.Errorf("statedb: build in %s: %w", dir, err)
	}
	created = append(created, w.name)
	for n := 0; ; n++ {
		k, v, ok, err := next()
		if err != nil {
			w.abort()
			return fmt.Errorf("statedb: build in %s: pair %d: %w", dir, n, err)
		}
		if !ok {
			break
		}
		if err := w.add(k, v, false); err != nil {
			w.abort()
			return fmt.Errorf("statedb: build in %s: pair %d: %w", dir, n, err)
		}
	}
	r, err := w.finish(0, seq)
	if err != nil {
		return fmt.Errorf("statedb: build in %s: %w", dir, err)
	}
	man := &manifest{flushed: seq, flushedValid: true, nextFile: walNum + 1, wal: walNum}
	if r != nil {
		man.runs = []runMeta{{num: r.num, size: r.size}}
		r.release()
	}
	name := walName(walNum)
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("statedb: build in %s: create %s: %w", dir, name, err)
	}
	created = append(created, name)
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = durable.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("statedb: build in %s: sync %s: %w", dir, name, err)
	}
	if err := writeManifest(dir, man); err != nil {
		created = append(created, manifestName)
		return fmt.Errorf("statedb: build in %s: %w", dir, err)
	}
	return nil
}
