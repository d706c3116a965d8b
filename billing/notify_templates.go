package billing

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"text/template"
)

// The message templates: one file per event kind (templates/<kind>.tmpl) defining
// "subject" and "email" (the plain-text body) for email, and "sms" for a short text.
//
//go:embed templates/*.tmpl
var templateFiles embed.FS

// MessageData is what a template sees: the operator's name that signs the message, the
// subscriber's name (his username when he gave none) and username, and the event's Data,
// in which money and dates are already formatted.
type MessageData struct {
	Operator string
	Name     string
	Username string
	Data     map[string]string
}

// Templates renders the messages of the event kinds that have a template.
type Templates struct {
	kinds map[EventKind]*template.Template
}

// ParseTemplates parses the embedded templates. A key missing from an event's Data
// renders as "" (templates test optional keys with "with").
func ParseTemplates() (*Templates, error) {
	names, err := fs.Glob(templateFiles, "templates/*.tmpl")
	if err != nil {
		return nil, err
	}
	t := &Templates{kinds: map[EventKind]*template.Template{}}
	for _, name := range names {
		kind := EventKind(strings.TrimSuffix(path.Base(name), ".tmpl"))
		if !kind.Valid() {
			return nil, fmt.Errorf("billing: template %s: %q is not an event kind", name, kind)
		}
		tpl, err := template.New(string(kind)).Option("missingkey=zero").ParseFS(templateFiles, name)
		if err != nil {
			return nil, fmt.Errorf("billing: template %s: %w", name, err)
		}
		for _, def := range []string{"subject", "email", "sms"} {
			if tpl.Lookup(def) == nil {
				return nil, fmt.Errorf("billing: template %s defines no %q", name, def)
			}
		}
		t.kinds[kind] = tpl
	}
	return t, nil
}

// MustTemplates is ParseTemplates for a program's start: the templates are embedded, so
// an error is a bug that the tests catch.
func MustTemplates() *Templates {
	t, err := ParseTemplates()
	if err != nil {
		panic(err)
	}
	return t
}

// Has reports whether kind has a template.
func (t *Templates) Has(kind EventKind) bool { return t.kinds[kind] != nil }

// Kinds returns the kinds that have a template.
func (t *Templates) Kinds() []EventKind {
	out := make([]EventKind, 0, len(t.kinds))
	for k := range t.kinds {
		out = append(out, k)
	}
	return out
}

var (
	spaces     = regexp.MustCompile(`\s+`)
	blankLines = regexp.MustCompile(`\n[ \t]*\n(?:[ \t]*\n)+`)
	lineEnds   = regexp.MustCompile(`[ \t]+\n`)
)

// Render returns the subject and body of kind's message on ch: for email a one-line
// subject and a plain-text body (no more than one blank line in a row), for SMS no
// subject and the text on one line. ENOTFOUND when kind has no template.
func (t *Templates) Render(kind EventKind, ch Channel, d MessageData) (subject, body string, err error) {
	tpl := t.kinds[kind]
	if tpl == nil {
		return "", "", notFound("template: no message for events of kind %q", kind)
	}
	exec := func(name string) (string, error) {
		var b bytes.Buffer
		if err := tpl.ExecuteTemplate(&b, name, d); err != nil {
			return "", fmt.Errorf("billing: render %s %s: %w", kind, name, err)
		}
		return b.String(), nil
	}
	switch ch {
	case ChannelEmail:
		if subject, err = exec("subject"); err != nil {
			return "", "", err
		}
		if body, err = exec("email"); err != nil {
			return "", "", err
		}
		body = lineEnds.ReplaceAllString(body, "\n")
		return oneLine(subject), strings.TrimSpace(blankLines.ReplaceAllString(body, "\n\n")) + "\n", nil
	case ChannelSMS:
		if body, err = exec("sms"); err != nil {
			return "", "", err
		}
		return "", oneLine(body), nil
	}
	return "", "", invalid("channel: %q is not email or sms", ch)
}

// oneLine folds every run of white space (line breaks included, so no header can be
// injected through a subject) into one space.
func oneLine(s string) string { return strings.TrimSpace(spaces.ReplaceAllString(s, " ")) }
