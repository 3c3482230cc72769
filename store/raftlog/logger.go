package raftlog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4/options"
)

const badgerNoCompression = options.None

// slogAdapter implements badger.Logger on a *slog.Logger. Badger's INFO
// messages (table and compaction chatter) are demoted to slog's Debug level;
// warnings and errors keep theirs.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) logf(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	a.l.Log(ctx, level, strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
}

func (a slogAdapter) Errorf(f string, v ...any)   { a.logf(slog.LevelError, f, v) }
func (a slogAdapter) Warningf(f string, v ...any) { a.logf(slog.LevelWarn, f, v) }
func (a slogAdapter) Infof(f string, v ...any)    { a.logf(slog.LevelDebug, f, v) }
func (a slogAdapter) Debugf(f string, v ...any)   { a.logf(slog.LevelDebug-4, f, v) }
