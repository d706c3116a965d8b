package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// sqlText matches the statements a query would hold.
var sqlText = regexp.MustCompile(`(?is)\bselect\b.+\bfrom\b|\binsert\s+into\b|\bupdate\s+\w+\s+set\b|\bdelete\s+from\b|\bpg_notify\b`)

// dbMethods are the calls that run SQL on a pool, a connection or a transaction.
var dbMethods = map[string]bool{"Exec": true, "Query": true, "QueryRow": true, "CopyFrom": true, "SendBatch": true, "Begin": true}

// MustParseDir parses the non-test Go files of this package.
func MustParseDir(tb testing.TB) (*token.FileSet, map[string]*ast.File) {
	tb.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		tb.Fatal(err)
	}
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			tb.Fatal(err)
		}
		files[n] = f
	}
	if len(files) == 0 {
		tb.Fatal("no Go files")
	}
	return fset, files
}

// TestNoSQL keeps queries in the adapters: cmd/tollgate wires stores, it does not query.
func TestNoSQL(t *testing.T) {
	fset, files := MustParseDir(t)
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if n.Kind != token.STRING {
					break
				}
				if s, err := strconv.Unquote(n.Value); err == nil && sqlText.MatchString(s) {
					t.Errorf("%s: SQL in cmd/tollgate: %.60q", fset.Position(n.Pos()), s)
				}
			case *ast.CallExpr:
				// Every database call takes a context first (url.URL.Query takes nothing).
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && dbMethods[sel.Sel.Name] && len(n.Args) > 0 {
					t.Errorf("%s: %s call in cmd/tollgate; add a store method", fset.Position(n.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
}

// TestServeRoles keeps `serve` readable: one start function per role, each returning
// the stop function serve calls in reverse order.
func TestServeRoles(t *testing.T) {
	_, files := MustParseDir(t)
	f := files["serve.go"]
	if f == nil {
		t.Fatal("no serve.go")
	}
	funcs := map[string]*ast.FuncDecl{}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
			funcs[fd.Name.Name] = fd
		}
	}
	for _, name := range []string{"startRadius", "startCron", "startPortal"} {
		fd := funcs[name]
		if fd == nil {
			t.Errorf("serve.go has no %s", name)
			continue
		}
		returnsStop := false
		for _, r := range fd.Type.Results.List {
			if id, ok := r.Type.(*ast.Ident); ok && id.Name == "stopFunc" {
				returnsStop = true
			}
		}
		if !returnsStop {
			t.Errorf("%s does not return a stopFunc", name)
		}
	}
	if fd := funcs["cmdServe"]; fd == nil {
		t.Error("serve.go has no cmdServe")
	} else if n := len(fd.Body.List); n > 30 {
		t.Errorf("cmdServe has %d statements; keep each role in its start function", n)
	}
}
