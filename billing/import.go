package billing

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ImportLine is one valid line of an import file.
type ImportLine struct {
	Line     int
	Username string
	Password string
}

// maxImportProblems bounds how many faulty lines one error lists.
const maxImportProblems = 10

// ParseImport reads a CSV file of subscribers, one "username,password" per line, and
// checks every line: an optional header line "username,password" and blank lines are
// skipped, a UTF-8 byte order mark (spreadsheet exports) is ignored, fields are taken
// as written (CSV quoting allows commas and quotes in passwords), and a username may
// appear once. Any fault is an EINVALID error naming the line, e.g. `line 17: username:
// …`, listing up to ten faulty lines; nothing is returned unless every line is valid. An
// error reading r is returned wrapped, as is.
func ParseImport(r io.Reader) ([]ImportLine, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked here, to name the line in our words
	cr.ReuseRecord = true
	var (
		out      []ImportLine
		seen     = make(map[string]int)
		problems []string
		more     int
		first    = true
	)
	problem := func(format string, args ...any) {
		if len(problems) < maxImportProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		} else {
			more++
		}
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("billing: read import: %w", err)
			}
			// After a quoting error the reader's position is unreliable: stop here.
			problem("line %d: %v", pe.Line, pe.Err)
			break
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
			if len(rec) == 2 && strings.EqualFold(strings.TrimSpace(rec[0]), "username") &&
				strings.EqualFold(strings.TrimSpace(rec[1]), "password") {
				continue
			}
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != 2 {
			problem("line %d: expected 2 fields, username,password; got %d", line, len(rec))
			continue
		}
		username, password := rec[0], rec[1]
		if err := ValidateUsername(username); err != nil {
			problem("line %d: %s", line, err)
			continue
		}
		if err := ValidatePassword(password); err != nil {
			problem("line %d: %s", line, err)
			continue
		}
		if prev, dup := seen[username]; dup {
			problem("line %d: username: %q already appears on line %d", line, username, prev)
			continue
		}
		seen[username] = line
		out = append(out, ImportLine{Line: line, Username: username, Password: password})
	}
	if len(problems) > 0 {
		msg := strings.Join(problems, "\n")
		if more > 0 {
			msg += fmt.Sprintf("\n(and %d more faulty lines)", more)
		}
		return nil, invalid("%s", msg)
	}
	if len(out) == 0 {
		return nil, invalid("file: no subscribers to import; expected lines of username,password")
	}
	return out, nil
}
