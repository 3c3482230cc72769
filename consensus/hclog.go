package consensus

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter bridges raft's hclog logging to log/slog. It reports only its level and above as
// enabled, so raft does not format debug lines that would be dropped.
type hclogAdapter struct {
	l     *slog.Logger
	name  string
	args  []any
	level *atomic.Int32
}

// newHclog returns an hclog.Logger writing to l at level and above.
func newHclog(l *slog.Logger, name string, level hclog.Level) hclog.Logger {
	lv := &atomic.Int32{}
	lv.Store(int32(level))
	return &hclogAdapter{l: orDiscard(l), name: name, level: lv}
}

func (a *hclogAdapter) enabled(level hclog.Level) bool {
	return level != hclog.Off && level >= hclog.Level(a.level.Load())
}

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if !a.enabled(level) {
		return
	}
	all := make([]any, 0, len(a.args)+len(args)+2)
	if a.name != "" {
		all = append(all, "logger", a.name)
	}
	all = append(all, a.args...)
	all = append(all, args...)
	a.l.Log(context.Background(), slogLevel(level), msg, all...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }
func (a *hclogAdapter) IsTrace() bool                 { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool                 { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool                  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool                  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool                 { return a.enabled(hclog.Error) }
func (a *hclogAdapter) ImpliedArgs() []any            { return a.args }
func (a *hclogAdapter) Name() string                  { return a.name }
func (a *hclogAdapter) SetLevel(level hclog.Level)    { a.level.Store(int32(level)) }
func (a *hclogAdapter) GetLevel() hclog.Level         { return hclog.Level(a.level.Load()) }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.args = append(append([]any(nil), a.args...), args...)
	return &c
}

func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return stdWriter{a}
}

// stdWriter turns lines of the standard logger into warnings (raft's file snapshot store and
// transport use it for problems only).
type stdWriter struct{ a *hclogAdapter }

func (w stdWriter) Write(p []byte) (int, error) {
	w.a.Log(hclog.Warn, strings.TrimSpace(string(p)))
	return len(p), nil
}
