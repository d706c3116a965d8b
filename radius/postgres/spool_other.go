//go:build !unix

package postgres

import "os"

// lockFile does nothing where flock does not exist: run one writer per spool directory.
func lockFile(*os.File) error { return nil }
