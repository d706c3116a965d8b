// Package wispr holds attribute helpers for the wispr vendor dictionary, generated from
// dictionaries/dictionary.wispr so that only the attributes tollgate uses are compiled in.
package wispr

//go:generate go tool radius-dict-gen -package wispr -output generated.go ../../../dictionaries/dictionary.wispr
