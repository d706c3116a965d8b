package billing

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"tollgate/radius"
)

// ImportLine is one valid line of an import file. The optional columns of a file with
// a header are normalized: Email lower-cased, Phone E.164, MAC upper-case with colons,
// StaticIP parsed; "" (or an invalid StaticIP) where the file gives none.
type ImportLine struct {
	Line     int
	Username string
	Password string
	Plan     string // "" for the import's default plan
	Name     string
	Email    string
	Phone    string
	MAC      string
	StaticIP netip.Addr
}

// importColumns are the columns a header may name: username and password are required,
// the others optional, in any order.
var importColumns = []string{"username", "password", "plan", "name", "email", "phone", "mac", "static_ip"}

// maxImportProblems bounds how many faulty lines one error lists.
const maxImportProblems = 10

// ParseImport reads a CSV file of subscribers, one "username,password" per line, and
// checks every line. A first line that names columns is a header: username and password
// are required, plan, name, email, phone, mac and static_ip optional, in any order (a
// blank plan cell means the import's default plan). Without a header every line is
// username,password. Blank lines are skipped, a UTF-8 byte order mark (spreadsheet exports) is ignored, fields are taken
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
		macs     = make(map[string]int)
		problems []string
		more     int
		first    = true
		// col is the index of each column in a file with a header; nil without one.
		col map[string]int
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
			if h, ok, err := parseImportHeader(rec); ok {
				if err != nil {
					return nil, err
				}
				col = h
				continue
			}
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		want := 2
		if col != nil {
			want = len(col)
		}
		if len(rec) != want {
			if col != nil {
				problem("line %d: expected %d fields, as the header names; got %d", line, want, len(rec))
			} else {
				problem("line %d: expected 2 fields, username,password; got %d", line, len(rec))
			}
			continue
		}
		username, password := rec[0], rec[1]
		var l ImportLine
		if col != nil {
			username, password = rec[col["username"]], rec[col["password"]]
			if l, err = importProfile(rec, col); err != nil {
				problem("line %d: %s", line, radius.ErrorMessage(err))
				continue
			}
			if prev, dup := macs[l.MAC]; dup && l.MAC != "" {
				problem("line %d: mac: %s already appears on line %d", line, l.MAC, prev)
				continue
			}
		}
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
		if l.MAC != "" {
			macs[l.MAC] = line
		}
		l.Line, l.Username, l.Password = line, username, password
		out = append(out, l)
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

// parseImportHeader reads a first line that names columns. ok is false for a line that
// is not a header (a subscriber); err is EINVALID for a header with an unknown, missing
// or repeated column.
func parseImportHeader(rec []string) (col map[string]int, ok bool, err error) {
	names := make([]string, len(rec))
	known := 0
	for i, f := range rec {
		names[i] = strings.ToLower(strings.TrimSpace(f))
		if slices.Contains(importColumns, names[i]) {
			known++
		}
	}
	// A header names username and password; a subscriber line would have to be called
	// "username" with the password "password" (refused as a header: it names no other
	// column) to look like one.
	if !slices.Contains(names, "username") || !slices.Contains(names, "password") {
		return nil, false, nil
	}
	col = make(map[string]int, len(names))
	for i, n := range names {
		if !slices.Contains(importColumns, n) {
			return nil, true, invalid("line 1: header: unknown column %q; the columns are %s", rec[i], strings.Join(importColumns, ","))
		}
		if _, dup := col[n]; dup {
			return nil, true, invalid("line 1: header: column %q is named twice", n)
		}
		col[n] = i
	}
	return col, true, nil
}

// importProfile reads and checks the optional columns of one line. EINVALID naming
// the field.
func importProfile(rec []string, col map[string]int) (ImportLine, error) {
	get := func(name string) string {
		if i, ok := col[name]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	l := ImportLine{Plan: get("plan")}
	var err error
	if l.Name, l.Email, l.Phone, err = checkProfile(get("name"), get("email"), get("phone")); err != nil {
		return l, err
	}
	if l.MAC, err = ParseMAC(get("mac")); err != nil {
		return l, err
	}
	if s := get("static_ip"); s != "" {
		if l.StaticIP, _, err = checkNewSubscriber(NewSubscriber{Username: "x", Password: "x", Plan: "x", StaticIP: s}); err != nil {
			return l, err
		}
	}
	return l, nil
}
