package store

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// gcLoop runs badger's value-log garbage collection every Options.GCInterval until ctx ends.
// Each round rewrites files while badger finds one worth rewriting. The value log holds the
// blocks, receipt lists and journal chunks; the journal's are deleted after every large
// checkpoint, so this is where their space comes back.
func (s *Store) gcLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if g := s.opts.WriteGuard; g != nil {
			if err := g(); err != nil {
				s.log.Warn("value log gc skipped", "err", err)
				continue
			}
		}
		rewritten := 0
		for ctx.Err() == nil {
			err := s.db.RunValueLogGC(s.opts.GCDiscardRatio)
			if err == nil {
				rewritten++
				continue
			}
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("value log gc", "err", err)
			}
			break
		}
		if rewritten > 0 {
			s.log.Info("value log gc", "files_rewritten", rewritten)
		}
	}
}
