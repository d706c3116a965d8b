package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"tollgate/radius"
)

// Secrets on the command line show in `ps` and in shell history. Every flag that takes
// one (--secret, --password) therefore also takes "-", which reads it from standard input,
// and has a -file twin (--secret-file, --password-file) that reads it from a file.

// secretFlag reads the secret given with --NAME VALUE, --NAME - or --NAME-file FILE, after
// fs was parsed; set says whether one was given.
func secretFlag(e *env, fs *flag.FlagSet, name string) (secret string, set bool, err error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fileFlag := name + "-file"
	switch {
	case given[name] && given[fileFlag]:
		return "", false, usagef("%s: give --%s or --%s, not both", fs.Name(), name, fileFlag)
	case given[fileFlag]:
		s, err := readSecretFile(fs.Lookup(fileFlag).Value.String(), fileFlag)
		return s, err == nil, err
	case given[name] && fs.Lookup(name).Value.String() == "-":
		s, err := readSecret(e, name)
		return s, err == nil, err
	case given[name]:
		return fs.Lookup(name).Value.String(), true, nil
	}
	return "", false, nil
}

// readSecretFile returns the one line of file name, without its line end. EINVALID
// naming field for a missing, empty or multi-line file.
func readSecretFile(name, field string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", radius.Errorf(radius.EINVALID, "%s: %v", field, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	switch {
	case s == "":
		return "", radius.Errorf(radius.EINVALID, "%s: %s is empty", field, name)
	case strings.ContainsAny(s, "\r\n"):
		return "", radius.Errorf(radius.EINVALID, "%s: %s has more than one line", field, name)
	}
	return s, nil
}

// readSecret asks for a secret twice on a terminal, without echo; otherwise it reads the
// first line of stdin (for scripts: `printf '%s\n' "$PW" | tollgate …`). It never prints
// the secret. field names it in the prompt and in messages.
func readSecret(e *env, field string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		prompt := strings.ToUpper(field[:1]) + field[1:]
		fmt.Fprint(e.stderr, prompt+": ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", field, err)
		}
		fmt.Fprint(e.stderr, prompt+" again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", field, err)
		}
		if string(a) != string(b) {
			return "", radius.Errorf(radius.EINVALID, "%s: the two entries differ", field)
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", field, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", radius.Errorf(radius.EINVALID, "%s: none on stdin (type it at a terminal, or pipe one line)", field)
	}
	return line, nil
}
