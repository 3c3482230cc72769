//go:build linux

// Jaminan patch (not in upstream ristretto): see third_party/README.md.

package z

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// allocate makes the file at least size bytes long with every block allocated (fallocate),
// so that writes through a shared mapping of it cannot fault for want of space. A file system
// without fallocate gets the sparse truncate of upstream.
func allocate(fd *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(fd.Fd()), 0, 0, size)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS):
			return fd.Truncate(size)
		default:
			return &os.PathError{Op: "fallocate", Path: fd.Name(), Err: err}
		}
	}
}
