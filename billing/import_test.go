package billing

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"tollgate/radius"
)

func TestParseImport(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []ImportLine
		err  string // expected message ("" = valid); a trailing "…" means prefix
	}{
		{
			name: "plain",
			in:   "alice,pw1\nbob,pw2\n",
			want: []ImportLine{{1, "alice", "pw1"}, {2, "bob", "pw2"}},
		},
		{
			name: "header, blank lines, CRLF, no final newline",
			in:   "username,password\r\n\r\nalice,pw1\r\n   \r\n\nbob,pw2",
			want: []ImportLine{{3, "alice", "pw1"}, {6, "bob", "pw2"}},
		},
		{
			name: "header in any case with BOM",
			in:   "\ufeffUsername, Password\nalice,pw1\n",
			want: []ImportLine{{2, "alice", "pw1"}},
		},
		{
			name: "BOM without header",
			in:   "\ufeffalice,pw1\n",
			want: []ImportLine{{1, "alice", "pw1"}},
		},
		{
			name: "quoted password with comma, quote and spaces",
			in:   "alice,\"a,b\"\"c \"\n",
			want: []ImportLine{{1, "alice", "a,b\"c "}},
		},
		{
			name: "header only",
			in:   "username,password\n",
			err:  "file: no subscribers to import…",
		},
		{
			name: "empty",
			in:   "",
			err:  "file: no subscribers to import…",
		},
		{
			name: "only the first line can be the header",
			in:   "alice,pw\nusername,password\n",
			want: []ImportLine{{1, "alice", "pw"}, {2, "username", "password"}},
		},
		{
			name: "bad username names the line",
			in:   "alice,pw\n\nbad user,pw\n",
			err:  `line 3: username: "bad user" has ' '; use printable ASCII without spaces`,
		},
		{
			name: "bad password names the line",
			in:   "alice,\n",
			err:  "line 1: password: must be 1 to 128 bytes",
		},
		{
			name: "field count",
			in:   "alice\nbob,pw,extra\n",
			err:  "line 1: expected 2 fields, username,password; got 1\nline 2: expected 2 fields, username,password; got 3",
		},
		{
			name: "duplicate names both lines",
			in:   "alice,pw\nbob,pw\nalice,other\n",
			err:  `line 3: username: "alice" already appears on line 1`,
		},
		{
			name: "usernames are case-sensitive",
			in:   "alice,pw\nAlice,pw\n",
			want: []ImportLine{{1, "alice", "pw"}, {2, "Alice", "pw"}},
		},
		{
			name: "bare quote stops with the line",
			in:   "alice,pw\nbob,p\"w\n",
			err:  `line 2: bare " in non-quoted-field`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseImport(strings.NewReader(tt.in))
			if tt.err == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			if got != nil {
				t.Fatalf("got %d lines with an error", len(got))
			}
			if radius.ErrorCode(err) != radius.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			msg := radius.ErrorMessage(err)
			if prefix, ok := strings.CutSuffix(tt.err, "…"); ok {
				if !strings.HasPrefix(msg, prefix) {
					t.Fatalf("message = %q, want prefix %q", msg, prefix)
				}
			} else if msg != tt.err {
				t.Fatalf("message = %q, want %q", msg, tt.err)
			}
		})
	}
}

func TestParseImportManyProblems(t *testing.T) {
	var b strings.Builder
	for i := range 25 {
		fmt.Fprintf(&b, "user %d,pw\n", i)
	}
	_, err := ParseImport(strings.NewReader(b.String()))
	msg := radius.ErrorMessage(err)
	lines := strings.Split(msg, "\n")
	if len(lines) != maxImportProblems+1 || !strings.HasPrefix(lines[0], "line 1: username:") ||
		lines[maxImportProblems] != "(and 15 more faulty lines)" {
		t.Fatalf("message = %q", msg)
	}
}

func TestParseImportReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ParseImport(iotest.ErrReader(boom))
	if !errors.Is(err, boom) || radius.ErrorCode(err) != radius.EINTERNAL {
		t.Fatalf("err = %v, want wrapped boom (internal)", err)
	}
}
