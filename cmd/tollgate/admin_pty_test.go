//go:build linux

package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tollgate/radius"
)

// openPTY returns a pseudo-terminal's master and slave ends.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// lockedBuffer is stderr shared with the typing goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestReadPasswordTerminal: at a terminal the password is asked twice, without echo.
func TestReadPasswordTerminal(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second string
		want          string
	}{
		{"same", "terminal-secret-1", "terminal-secret-1", "terminal-secret-1"},
		{"different", "terminal-secret-1", "terminal-secret-2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			master, slave := openPTY(t)
			stderr := &lockedBuffer{}
			e := &env{stdin: slave, stdout: &bytes.Buffer{}, stderr: stderr}
			var echoed bytes.Buffer
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				buf := make([]byte, 256)
				for {
					n, err := master.Read(buf)
					echoed.Write(buf[:n])
					if err != nil {
						return
					}
				}
			}()
			go func() {
				for i, line := range []string{tc.first, tc.second} {
					prompt := []string{"Password: ", "Password again: "}[i]
					for !strings.Contains(stderr.String(), prompt) {
						time.Sleep(5 * time.Millisecond)
					}
					time.Sleep(200 * time.Millisecond) // let ReadPassword turn echo off
					master.Write([]byte(line + "\n"))
				}
			}()
			got, err := readPassword(e)
			if tc.want == "" {
				if radius.ErrorCode(err) != radius.EINVALID || !strings.Contains(err.Error(), "differ") {
					t.Fatalf("readPassword = %q, %v; want the entries to differ", got, err)
				}
			} else if err != nil || got != tc.want {
				t.Fatalf("readPassword = %q, %v; want %q", got, err, tc.want)
			}
			slave.Close()
			master.Close()
			<-readDone
			if strings.Contains(echoed.String(), "terminal-secret") || strings.Contains(stderr.String(), "terminal-secret") {
				t.Fatalf("the password was echoed: %q / %q", echoed.String(), stderr.String())
			}
		})
	}
}
