// Package badgerfix repairs what a crash can leave in a badger directory that badger v4.9.6
// itself refuses to open.
package badgerfix

import (
	"fmt"
	"os"
	"path/filepath"
)

// RemoveEmptyMemtables deletes memtable logs (*.mem) of length zero and returns their names.
//
// badger creates a memtable log and only then sizes it; a process killed between the two leaves
// an empty file, and on the next open badger treats the "new file" signal it gets for it as an
// error ("while opening memtables … Create a new file") and refuses the directory for good. An
// empty log holds no entry, so deleting it loses nothing.
func RemoveEmptyMemtables(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var removed []string
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".mem" {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return removed, fmt.Errorf("stat %s: %w", e.Name(), err)
		}
		if fi.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return removed, fmt.Errorf("remove empty memtable log %s: %w", e.Name(), err)
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}
