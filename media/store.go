package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/callflow/callflow/clock"
)

// tmpPrefix starts the names of files being written; valid recording names
// never start with '.', so a temporary file is never taken for a recording.
const tmpPrefix = ".tmp-"

// staleTemp is the age after which Expire removes a temporary file left
// behind by a crash.
const staleTemp = time.Hour

// Info describes a stored recording.
type Info struct {
	Name   string
	Format string
	Size   int64
	// Created is when the recording was committed, by the store's clock (UTC).
	Created     time.Time
	ContentType string
}

// Store keeps recordings as NAME.FORMAT files in one directory. It is safe
// for concurrent use. Every write goes to a temporary file that is synced
// and then linked under its final name, so a crash never leaves a partial
// recording under a recording's name.
type Store struct {
	dir  string
	keep time.Duration
	clk  clock.Clock

	mu sync.Mutex // serialises commits so a name is never stored in two formats
}

// Open opens (creating it if needed) a store in dir. Recordings older than
// keep are removed by Expire; keep <= 0 keeps them forever.
func Open(dir string, keep time.Duration, clk clock.Clock) (*Store, error) {
	if dir == "" {
		return nil, errors.New("media: store directory not set")
	}
	if clk == nil {
		return nil, errors.New("media: store needs a clock")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("media: create store directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("media: store directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("media: store path %s is not a directory", dir)
	}
	return &Store{dir: dir, keep: keep, clk: clk}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Create starts a new recording. Data written goes to a temporary file;
// Close syncs it and commits it under name. Close commits nothing, removes
// the temporary file and returns an error if a Write failed or ctx was done
// by then: cancel ctx to abandon a write. Close fails with ErrExists if the
// name was stored meanwhile. Save is the usual way to store a stream.
func (s *Store) Create(ctx context.Context, name, format string) (io.WriteCloser, error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("media: create: %w", err)
	}
	if err := validateFormat(format); err != nil {
		return nil, fmt.Errorf("media: create %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("media: create %s: %w", name, err)
	}
	if _, err := s.find(name); err == nil {
		return nil, fmt.Errorf("media: create %s: %w", name, ErrExists)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("media: create %s: %w", name, err)
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("media: create %s: %w", name, err)
	}
	tmp := filepath.Join(s.dir, tmpPrefix+name+"."+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("media: create %s: %w", name, err)
	}
	return &writer{ctx: ctx, s: s, f: f, tmp: tmp, name: name, format: format}, nil
}

// Save stores everything r yields as a new recording. If reading r fails
// nothing is stored.
func (s *Store) Save(ctx context.Context, name, format string, r io.Reader) (Info, error) {
	w, err := s.Create(ctx, name, format)
	if err != nil {
		return Info{}, err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.(*writer).abort()
		return Info{}, fmt.Errorf("media: save %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return Info{}, err
	}
	return s.Stat(name)
}

type writer struct {
	ctx          context.Context
	s            *Store
	f            *os.File
	tmp          string
	name, format string
	err          error // first write error
	done         bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("media: write %s: %w", w.name, os.ErrClosed)
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = fmt.Errorf("media: write %s: %w", w.name, err)
		return 0, w.err
	}
	n, err := w.f.Write(p)
	if err != nil {
		w.err = fmt.Errorf("media: write %s: %w", w.name, err)
	}
	return n, w.err
}

// abort discards the temporary file.
func (w *writer) abort() {
	if w.done {
		return
	}
	w.done = true
	_ = w.f.Close() // the file is being thrown away
	_ = os.Remove(w.tmp)
}

func (w *writer) Close() error {
	if w.done {
		return fmt.Errorf("media: close %s: %w", w.name, os.ErrClosed)
	}
	if w.err == nil {
		if err := w.ctx.Err(); err != nil {
			w.err = fmt.Errorf("media: close %s: %w", w.name, err)
		}
	}
	if w.err != nil {
		w.abort()
		return w.err
	}
	w.done = true
	err := w.commit()
	if err != nil {
		_ = os.Remove(w.tmp) // best effort; Expire removes stale temporaries
	}
	return err
}

func (w *writer) commit() error {
	if err := w.f.Sync(); err != nil {
		_ = w.f.Close()
		return fmt.Errorf("media: sync %s: %w", w.name, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("media: close %s: %w", w.name, err)
	}
	now := w.s.clk.Now()
	if err := os.Chtimes(w.tmp, now, now); err != nil {
		return fmt.Errorf("media: stamp %s: %w", w.name, err)
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.find(w.name); err == nil {
		return fmt.Errorf("media: commit %s: %w", w.name, ErrExists)
	} else if !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("media: commit %s: %w", w.name, err)
	}
	// Link refuses to replace an existing file, unlike Rename.
	if err := os.Link(w.tmp, s.path(w.name, w.format)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("media: commit %s: %w", w.name, ErrExists)
		}
		return fmt.Errorf("media: commit %s: %w", w.name, err)
	}
	if err := os.Remove(w.tmp); err != nil {
		return fmt.Errorf("media: commit %s: remove temporary file: %w", w.name, err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("media: commit %s: %w", w.name, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

func (s *Store) path(name, format string) string {
	return filepath.Join(s.dir, name+"."+format)
}

// find locates a recording's file. A name is stored in at most one format.
func (s *Store) find(name string) (Info, error) {
	for format := range formats {
		st, err := os.Stat(s.path(name, format))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Info{}, err
		}
		if !st.Mode().IsRegular() {
			continue
		}
		return Info{
			Name:        name,
			Format:      format,
			Size:        st.Size(),
			Created:     st.ModTime().UTC(),
			ContentType: formats[format],
		}, nil
	}
	return Info{}, ErrNotFound
}

// Stat describes a stored recording.
func (s *Store) Stat(name string) (Info, error) {
	if err := ValidateName(name); err != nil {
		return Info{}, fmt.Errorf("media: stat: %w", err)
	}
	info, err := s.find(name)
	if err != nil {
		return Info{}, fmt.Errorf("media: stat %s: %w", name, err)
	}
	return info, nil
}

// Open opens a stored recording for reading. The reader also implements
// io.Seeker.
func (s *Store) Open(name string) (io.ReadCloser, Info, error) {
	f, info, err := s.open(name)
	if err != nil {
		return nil, Info{}, err
	}
	return f, info, nil
}

func (s *Store) open(name string) (*os.File, Info, error) {
	info, err := s.Stat(name)
	if err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(s.path(name, info.Format))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, fmt.Errorf("media: open %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("media: open %s: %w", name, err)
	}
	return f, info, nil
}

// Delete removes a stored recording.
func (s *Store) Delete(name string) error {
	info, err := s.Stat(name)
	if err != nil {
		return err
	}
	if err := os.Remove(s.path(name, info.Format)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("media: delete %s: %w", name, ErrNotFound)
		}
		return fmt.Errorf("media: delete %s: %w", name, err)
	}
	return nil
}

// Expire removes recordings committed more than keep ago (none when keep
// <= 0) and temporary files a crash left behind, and returns how many
// recordings it removed. It stops early when ctx is done.
func (s *Store) Expire(ctx context.Context) (n int, err error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("media: expire: %w", err)
	}
	now := s.clk.Now()
	var errs []error
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("media: expire: %w", err)
		}
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		age := now.Sub(fi.ModTime())
		isTemp := strings.HasPrefix(e.Name(), tmpPrefix)
		switch {
		case isTemp && age > staleTemp:
		case !isTemp && s.keep > 0 && age > s.keep && s.isRecording(e.Name()):
		default:
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		if !isTemp {
			n++
		}
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("media: expire: %w", errors.Join(errs...))
	}
	return n, nil
}

// isRecording reports whether a file name is NAME.FORMAT of a recording.
func (s *Store) isRecording(file string) bool {
	i := strings.LastIndexByte(file, '.')
	if i <= 0 {
		return false
	}
	return validateFormat(file[i+1:]) == nil && ValidateName(file[:i]) == nil
}
