package billing

import (
	"errors"
	"fmt"
	"net/netip"
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
			want: []ImportLine{{Line: 1, Username: "alice", Password: "pw1"}, {Line: 2, Username: "bob", Password: "pw2"}},
		},
		{
			name: "header, blank lines, CRLF, no final newline",
			in:   "username,password\r\n\r\nalice,pw1\r\n   \r\n\nbob,pw2",
			want: []ImportLine{{Line: 3, Username: "alice", Password: "pw1"}, {Line: 6, Username: "bob", Password: "pw2"}},
		},
		{
			name: "header in any case with BOM",
			in:   "\ufeffUsername, Password\nalice,pw1\n",
			want: []ImportLine{{Line: 2, Username: "alice", Password: "pw1"}},
		},
		{
			name: "BOM without header",
			in:   "\ufeffalice,pw1\n",
			want: []ImportLine{{Line: 1, Username: "alice", Password: "pw1"}},
		},
		{
			name: "quoted password with comma, quote and spaces",
			in:   "alice,\"a,b\"\"c \"\n",
			want: []ImportLine{{Line: 1, Username: "alice", Password: "a,b\"c "}},
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
			want: []ImportLine{{Line: 1, Username: "alice", Password: "pw"}, {Line: 2, Username: "username", Password: "password"}},
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
			want: []ImportLine{{Line: 1, Username: "alice", Password: "pw"}, {Line: 2, Username: "Alice", Password: "pw"}},
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

// TestParseImportHeader: a header names username and password and any of the optional
// columns in any order; their values are normalized and checked per line.
func TestParseImportHeader(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.7")
	tests := []struct {
		name string
		in   string
		want []ImportLine
		err  string
	}{
		{
			name: "every column, any order",
			in: "name,username,email,password,phone,plan,mac,static_ip\n" +
				"Alice Doe,alice,Alice@Example.COM,pw1,+254 712-345 678,Gold,aa-bb-cc-dd-ee-ff,10.0.0.7\n",
			want: []ImportLine{{Line: 2, Username: "alice", Password: "pw1", Plan: "Gold", Name: "Alice Doe", Email: "alice@example.com",
				Phone: "+254712345678", MAC: "AA:BB:CC:DD:EE:FF", StaticIP: ip}},
		},
		{
			name: "optional cells may be blank",
			in:   "USERNAME,Password,Plan,Email\nbob,pw,,\ncarol,pw,Silver,\n",
			want: []ImportLine{{Line: 2, Username: "bob", Password: "pw"}, {Line: 3, Username: "carol", Password: "pw", Plan: "Silver"}},
		},
		{
			name: "00 becomes +",
			in:   "username,password,phone\nbob,pw,00254712345678\n",
			want: []ImportLine{{Line: 2, Username: "bob", Password: "pw", Phone: "+254712345678"}},
		},
		{
			name: "unknown column",
			in:   "username,password,colour\nbob,pw,red\n",
			err:  `line 1: header: unknown column "colour"; the columns are username,password,plan,name,email,phone,mac,static_ip`,
		},
		{
			name: "repeated column",
			in:   "username,password,plan,plan\nbob,pw,a,b\n",
			err:  `line 1: header: column "plan" is named twice`,
		},
		{
			name: "a header without password is a subscriber line",
			in:   "username,plan\n",
			want: []ImportLine{{Line: 1, Username: "username", Password: "plan"}},
		},
		{
			name: "field count follows the header",
			in:   "username,password,plan\nbob,pw\n",
			err:  "line 2: expected 3 fields, as the header names; got 2",
		},
		{
			name: "bad values name line and field",
			in: "username,password,email,phone,mac,static_ip\n" +
				"a,pw,nope,,,\nb,pw,,0712345678,,\nc,pw,,,zz,\nd,pw,,,,300.1.1.1\n",
			err: "line 2: email: \"nope\" is not an address like shop@example.com\n" +
				"line 3: phone: \"0712345678\" is not a number with its country code, like +254712345678\n" +
				"line 4: mac: \"zz\" is not a MAC address like AA:BB:CC:DD:EE:FF\n" +
				"line 5: static-ip: \"300.1.1.1\" is not an IPv4 or IPv6 address",
		},
		{
			name: "a MAC twice",
			in:   "username,password,mac\na,pw,aa:bb:cc:dd:ee:ff\nb,pw,AA-BB-CC-DD-EE-FF\n",
			err:  "line 3: mac: AA:BB:CC:DD:EE:FF already appears on line 2",
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
			if radius.ErrorCode(err) != radius.EINVALID || radius.ErrorMessage(err) != tt.err {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}
