// Package microsoft holds attribute helpers for the microsoft vendor dictionary, generated from
// dictionaries/dictionary.microsoft so that only the attributes tollgate uses are compiled in.
package microsoft

//go:generate go tool radius-dict-gen -package microsoft -output generated.go ../../../dictionaries/dictionary.microsoft
