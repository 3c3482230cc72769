package rules

import "fmt"

// wrapf wraps a sentinel error with detail so that errors.Is still matches the sentinel.
func wrapf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
