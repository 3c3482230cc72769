//go:build !linux

// Jaminan patch (not in upstream ristretto): see third_party/README.md.

package z

import "os"

// allocate extends the file to size bytes (sparse, as upstream does, on systems other than Linux).
func allocate(fd *os.File, size int64) error { return fd.Truncate(size) }
