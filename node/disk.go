package node

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/consensus"
)

// errNoSpace is what the node answers while its disk is below the free-space floor: a client
// gets 507 (api.ErrNoSpace), the executor keeps the checkpoint and retries (consensus.ErrRetry).
var errNoSpace = noSpace{}

type noSpace struct{}

func (noSpace) Error() string { return "the disk is full" }

func (noSpace) Is(target error) bool { return target == api.ErrNoSpace || target == consensus.ErrRetry }

// diskGuard refuses writes while the file system of the data directory has less than min bytes
// free.
//
// Why: badger writes through memory mappings of files whose blocks are allocated when the file
// is created (third_party/ristretto); a file it cannot create is an error that leaves its
// memtable unusable until the store is reopened. Keeping a floor of free space means badger is
// only ever let write when the files it may create next fit, so a full disk is a refusal (507 to
// clients, a lagging but live node) instead of a dead node. The check is one statfs per
// checkpoint or submission.
type diskGuard struct {
	dir string
	min uint64
}

// free returns the bytes free (to unprivileged users) on the file system of the directory.
func (g diskGuard) free() (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(g.dir, &st); err != nil {
		return 0, fmt.Errorf("check free disk space of %s: %w", g.dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// check returns nil when there is room, errNoSpace (with the numbers) when there is not.
func (g diskGuard) check() error {
	if g.min == 0 {
		return nil
	}
	free, err := g.free()
	if err != nil {
		return err
	}
	if free < g.min {
		return fmt.Errorf("%s has %d MiB free, below the floor of %d MiB (min_free_disk_mib): %w",
			g.dir, free>>20, g.min>>20, errNoSpace)
	}
	return nil
}

// isNoSpace reports whether err is a write that failed for want of space (ENOSPC from the file
// system, past the guard: another process filled the disk in between).
func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }
