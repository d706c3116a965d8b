// Package mikrotik holds attribute helpers for the mikrotik vendor dictionary, generated from
// dictionaries/dictionary.mikrotik so that only the attributes tollgate uses are compiled in.
package mikrotik

//go:generate go tool radius-dict-gen -package mikrotik -output generated.go ../../../dictionaries/dictionary.mikrotik
