package provision

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// pending is a file being replaced atomically: a temporary file beside the
// target, created early so that a directory we cannot write fails the claim
// before the code is spent, and renamed over the target once written and
// fsynced. A power cut leaves the old file or the new one, never half of one.
type pending struct {
	f    *os.File
	path string
}

func prepare(path string) (*pending, error) {
	dir := filepath.Dir(path)
	// CreateTemp makes the file 0600 whatever the umask: the secret is never
	// readable by others, not even for the moment before commit.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("%w: cannot create files in %s: %w", ErrWrite, dir, err)
	}
	return &pending{f: f, path: path}, nil
}

// commit writes data with mode (and owner uid:gid unless -1), then renames the
// temporary file over the target and syncs the directory so the rename lasts.
func (p *pending) commit(data []byte, mode os.FileMode, uid, gid int) error {
	f := p.f
	p.f = nil
	err := write(f, data, mode, uid, gid)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p.path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("%w: %s: %w", ErrWrite, p.path, err)
	}
	if d, err := os.Open(filepath.Dir(p.path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func write(f *os.File, data []byte, mode os.FileMode, uid, gid int) error {
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if uid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			return err
		}
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

// realPath follows symbolic links, so that a config or secret kept elsewhere
// and linked into /etc/shouwang is replaced where it lives, not the link.
func realPath(path string) string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		return p
	}
	return path
}

// abort removes the temporary file if commit did not take it.
func (p *pending) abort() {
	if p.f != nil {
		p.f.Close()
		os.Remove(p.f.Name())
		p.f = nil
	}
}

// fileOwner is path's mode and owner, so a rewritten config keeps the package's
// root:shouwang 0640; -1 (keep the writer's) when they cannot be read.
func fileOwner(path string) (mode os.FileMode, uid, gid int) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0o640, -1, -1
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return fi.Mode().Perm(), -1, -1
	}
	return fi.Mode().Perm(), int(st.Uid), int(st.Gid)
}
