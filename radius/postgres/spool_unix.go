//go:build unix

package postgres

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f that the kernel drops when the process dies,
// so that two writers never append to one spool.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
