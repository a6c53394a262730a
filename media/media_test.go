package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/callflow/callflow/clock"
)

// fakeClock is a settable clock.Clock for tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

var _ clock.Clock = (*fakeClock)(nil)

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	panic("fakeClock.AfterFunc is not used by the media store")
}

func (c *fakeClock) Go(f func()) { go f() }

func newStore(t *testing.T, keep time.Duration) (*Store, *fakeClock) {
	t.Helper()
	clk := &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s, err := Open(filepath.Join(t.TempDir(), "media"), keep, clk)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "rec-1", true},
		{"dots and underscores", "vm_2025.03.01-a", true},
		{"digit first", "1234", true},
		{"max length", strings.Repeat("a", MaxNameLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", MaxNameLen+1), false},
		{"slash", "a/b", false},
		{"backslash", `a\b`, false},
		{"dot dot", "a..b", false},
		{"parent", "..", false},
		{"leading dot", ".hidden", false},
		{"leading dash", "-rf", false},
		{"space", "a b", false},
		{"colon", "a:b", false},
		{"unicode", "nahrávka", false},
		{"nul", "a\x00b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateName(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("error %v does not wrap ErrInvalidName", err)
			}
		})
	}
}

func TestParsePrompt(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // "" = error expected
		wantErr string
	}{
		{"sound", "sound:hello-world", "sound:hello-world", ""},
		{"sound with folder", "sound:digits/1", "sound:digits/1", ""},
		{"trimmed", "  sound:beep ", "sound:beep", ""},
		{"recording", "recording:vm-42.a", "recording:vm-42.a", ""},
		{"digits", "digits:0123*#", "digits:0123*#", ""},
		{"number", "number:42", "number:42", ""},
		{"negative number", "number:-7", "number:-7", ""},
		{"silence", "silence:2", "silence:2", ""},
		{"half a second", "silence:0.5", "silence:0.5", ""},
		{"tone", "tone:beep", "tone:beep", ""},
		{"no scheme", "hello-world", "", "want KIND:VALUE"},
		{"unknown scheme", "file:/etc/passwd", "", `unknown kind "file"`},
		{"upper-case scheme", "SOUND:beep", "", "unknown kind"},
		{"empty value", "sound:", "", "empty sound"},
		{"sound climbs", "sound:../../etc/passwd", "", `".." are not allowed`},
		{"sound absolute", "sound:/etc/passwd", "", "empty path segment"},
		{"sound double slash", "sound:a//b", "", "empty path segment"},
		{"sound space", "sound:a b", "", "not allowed"},
		{"sound injection", "sound:beep&hangup", "", "not allowed"},
		{"recording with slash", "recording:a/b", "", "invalid recording name"},
		{"digits with letter", "digits:12a", "", "want only 0-9"},
		{"digits plus inside", "digits:42+0", "", "want only 0-9"},
		{"digits plus only", "digits:+", "", "empty digits"},
		{"digits too many", "digits:" + strings.Repeat("1", 65), "", "more than 64"},
		{"number float", "number:1.5", "", "not an integer"},
		{"number overflow", "number:99999999999999999999", "", "not an integer"},
		{"silence zero", "silence:0", "", "more than 0"},
		{"silence negative", "silence:-1", "", "more than 0"},
		{"silence too long", "silence:601", "", "at most 600"},
		{"silence NaN", "silence:NaN", "", "want seconds"},
		{"silence exponent", "silence:1e2", "", "want seconds"},
		{"tone upper", "tone:Beep", "", "want only a-z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrompt(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePrompt(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ParsePrompt(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			k, v, err := Split(got)
			if err != nil || string(k)+":"+v != tt.want {
				t.Fatalf("Split(%q) = %q, %q, %v", got, k, v, err)
			}
		})
	}
}

// An E.164 number read as digits: the plus is accepted and not spoken.
func TestDigitsE164(t *testing.T) {
	p, err := ParsePrompt("digits:+420601111222")
	if err != nil || p != "digits:+420601111222" {
		t.Fatalf("ParsePrompt = %q, %v", p, err)
	}
	k, v, err := Split(p)
	if err != nil || k != Digits || v != "420601111222" {
		t.Fatalf("Split = %q, %q, %v; want digits 420601111222", k, v, err)
	}
}

func TestParsePromptsReportsEveryBadOne(t *testing.T) {
	_, err := ParsePrompts([]string{"sound:ok", "bad", "digits:x"})
	if err == nil || !strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("ParsePrompts error = %v, want both bad prompts named", err)
	}
	ps, err := ParsePrompts([]string{"sound:a", "silence:1"})
	if err != nil || len(ps) != 2 || ps[1] != "silence:1" {
		t.Fatalf("ParsePrompts = %v, %v", ps, err)
	}
}

// TestParseKind: the scheme check the flow loader applies to a templated
// prompt is the one ParsePrompt applies; every kind ParsePrompt accepts is
// known, nothing else.
func TestParseKind(t *testing.T) {
	for _, k := range kinds {
		if got, err := ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	for _, s := range []string{"", "foo", "Sound", "sound ", "http", "file"} {
		if _, err := ParseKind(s); err == nil {
			t.Errorf("ParseKind(%q) accepted", s)
		}
		if _, err := ParsePrompt(s + ":x"); err == nil {
			t.Errorf("ParsePrompt(%q) accepted", s+":x")
		}
	}
}

func TestStoreWriteAndRead(t *testing.T) {
	s, clk := newStore(t, 0)
	ctx := context.Background()
	data := []byte("RIFF....WAVEaudio")
	info, err := s.Save(ctx, "rec-1", "wav", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Name: "rec-1", Format: "wav", Size: int64(len(data)), Created: clk.Now(), ContentType: "audio/wav"}
	if info != want {
		t.Fatalf("Save info = %+v, want %+v", info, want)
	}
	rc, info2, err := s.Open("rec-1")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) || info2 != want {
		t.Fatalf("Open = %q, %+v, %v", got, info2, err)
	}
	if names := dirNames(t, s.Dir()); len(names) != 1 || names[0] != "rec-1.wav" {
		t.Fatalf("directory holds %v, want only rec-1.wav", names)
	}

	tests := []struct {
		name   string
		rec    string
		format string
		want   error
	}{
		{"same name same format", "rec-1", "wav", ErrExists},
		{"same name other format", "rec-1", "gsm", ErrExists},
		{"bad name", "../rec-1", "wav", ErrInvalidName},
		{"bad format", "rec-2", "exe", ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Create(ctx, tt.rec, tt.format)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Create(%q, %q) = %v, want %v", tt.rec, tt.format, err, tt.want)
			}
		})
	}
	if err := s.Delete("rec-1"); err != nil {
		t.Fatal(err)
	}
	for _, op := range []func() error{
		func() error { return s.Delete("rec-1") },
		func() error { _, err := s.Stat("rec-1"); return err },
		func() error { _, _, err := s.Open("rec-1"); return err },
	} {
		if err := op(); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after delete: %v, want ErrNotFound", err)
		}
	}
}

func TestStoreConcurrentCreateSameName(t *testing.T) {
	s, _ := newStore(t, 0)
	ctx := context.Background()
	w1, err := s.Create(ctx, "race", "wav")
	if err != nil {
		t.Fatal(err)
	}
	w2, err := s.Create(ctx, "race", "gsm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w1.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Write([]byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); !errors.Is(err, ErrExists) {
		t.Fatalf("second commit = %v, want ErrExists", err)
	}
	if names := dirNames(t, s.Dir()); len(names) != 1 || names[0] != "race.wav" {
		t.Fatalf("directory holds %v, want only race.wav", names)
	}
}

func TestStoreFailedWriteLeavesNothing(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, s *Store) error
	}{
		{"reader fails", func(t *testing.T, s *Store) error {
			r := io.MultiReader(strings.NewReader("partial audio"), iotest.ErrReader(errors.New("connection reset")))
			_, err := s.Save(context.Background(), "rec", "wav", r)
			return err
		}},
		{"context cancelled before close", func(t *testing.T, s *Store) error {
			ctx, cancel := context.WithCancel(context.Background())
			w, err := s.Create(ctx, "rec", "wav")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("partial")); err != nil {
				t.Fatal(err)
			}
			cancel()
			return w.Close()
		}},
		{"context cancelled during writes", func(t *testing.T, s *Store) error {
			ctx, cancel := context.WithCancel(context.Background())
			w, err := s.Create(ctx, "rec", "wav")
			if err != nil {
				t.Fatal(err)
			}
			cancel()
			if _, err := w.Write([]byte("x")); !errors.Is(err, context.Canceled) {
				t.Fatalf("Write after cancel = %v", err)
			}
			return w.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t, 0)
			if err := tt.write(t, s); err == nil {
				t.Fatal("failed write reported success")
			}
			if names := dirNames(t, s.Dir()); len(names) != 0 {
				t.Fatalf("failed write left %v", names)
			}
			if _, err := s.Stat("rec"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Stat = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestStoreUnclosedWriteIsInvisible(t *testing.T) {
	// A crash between Write and Close leaves only a temporary file.
	s, clk := newStore(t, time.Hour)
	w, err := s.Create(context.Background(), "rec", "wav")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("half a recording")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat("rec"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat of unfinished recording = %v, want ErrNotFound", err)
	}
	// The crashed process never closes w; the next one expires the leftover
	// (its mtime is the real clock's, so move the fake one well ahead).
	clk.Advance(time.Since(clk.Now()) + 2*time.Hour)
	n, err := s.Expire(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("Expire = %d, %v; want 0 recordings, no error", n, err)
	}
	if names := dirNames(t, s.Dir()); len(names) != 0 {
		t.Fatalf("stale temporary file not removed: %v", names)
	}
}

func TestStoreExpire(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		keep     time.Duration
		advance  time.Duration // after "old" is stored, before "new"
		then     time.Duration // after "new" is stored, before Expire
		wantGone int
		wantLeft []string
	}{
		{"old one expires", 24 * time.Hour, 20 * time.Hour, 5 * time.Hour, 1, []string{"new.wav"}},
		{"both expire", 24 * time.Hour, time.Hour, 25 * time.Hour, 2, nil},
		{"none yet", 24 * time.Hour, time.Hour, time.Hour, 0, []string{"new.wav", "old.gsm"}},
		{"exactly keep is kept", 24 * time.Hour, 0, 24 * time.Hour, 0, []string{"new.wav", "old.gsm"}},
		{"keep forever", 0, 1000 * time.Hour, 1000 * time.Hour, 0, []string{"new.wav", "old.gsm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newStore(t, tt.keep)
			if _, err := s.Save(ctx, "old", "gsm", strings.NewReader("a")); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tt.advance)
			if _, err := s.Save(ctx, "new", "wav", strings.NewReader("b")); err != nil {
				t.Fatal(err)
			}
			// A file that is not a recording is never touched.
			if err := os.WriteFile(filepath.Join(s.Dir(), "README"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tt.then)
			n, err := s.Expire(ctx)
			if err != nil || n != tt.wantGone {
				t.Fatalf("Expire = %d, %v; want %d", n, err, tt.wantGone)
			}
			want := append([]string{"README"}, tt.wantLeft...)
			if got := dirNames(t, s.Dir()); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("left %v, want %v", got, want)
			}
		})
	}
}

func TestStoreExpireStopsOnContext(t *testing.T) {
	s, clk := newStore(t, time.Hour)
	if _, err := s.Save(context.Background(), "a", "wav", strings.NewReader("a")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Expire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Expire = %v, want context.Canceled", err)
	}
	if _, err := s.Stat("a"); err != nil {
		t.Fatalf("cancelled Expire removed a recording: %v", err)
	}
}

func TestServeHTTP(t *testing.T) {
	s, _ := newStore(t, 0)
	ctx := context.Background()
	wav := makeWAV(t, 8000, 1, 16, 8000)
	if _, err := s.Save(ctx, "vm-1", "wav", bytes.NewReader(wav)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "vm-2", "gsm", strings.NewReader("gsmdata")); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/recordings/{name}", s)
	mux.Handle("/files/", http.StripPrefix("/files/", s))

	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string
		wantStatus int
		wantType   string
		wantLen    int
	}{
		{"wav by path value", "GET", "/recordings/vm-1", nil, 200, "audio/wav", len(wav)},
		{"gsm by stripped prefix", "GET", "/files/vm-2", nil, 200, "audio/gsm", 7},
		{"with extension", "GET", "/recordings/vm-1.wav", nil, 200, "audio/wav", len(wav)},
		{"wrong extension", "GET", "/recordings/vm-1.gsm", nil, 404, "", -1},
		{"head", "HEAD", "/recordings/vm-1", nil, 200, "audio/wav", 0},
		{"range", "GET", "/recordings/vm-1", map[string]string{"Range": "bytes=0-11"}, 206, "audio/wav", 12},
		{"missing", "GET", "/recordings/nope", nil, 404, "", -1},
		{"invalid name", "GET", "/files/..%2fsecret", nil, 400, "", -1},
		{"hidden temp", "GET", "/recordings/.tmp-x", nil, 400, "", -1},
		{"post", "POST", "/recordings/vm-1", nil, 405, "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantType != "" && rec.Header().Get("Content-Type") != tt.wantType {
				t.Fatalf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tt.wantType)
			}
			if tt.wantLen >= 0 && rec.Body.Len() != tt.wantLen {
				t.Fatalf("body of %d bytes, want %d", rec.Body.Len(), tt.wantLen)
			}
		})
	}
}

// makeWAV builds a PCM WAV with a LIST chunk before the data.
func makeWAV(t testing.TB, rate, channels, bits, frames int) []byte {
	t.Helper()
	block := channels * bits / 8
	data := make([]byte, frames*block)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var b bytes.Buffer
	le := func(v any) {
		if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	list := []byte("INFOISFT\x05\x00\x00\x00test\x00") // odd size: padded
	b.WriteString("RIFF")
	le(uint32(4 + 8 + 16 + 8 + len(list) + 1 + 8 + len(data)))
	b.WriteString("WAVE")
	b.WriteString("fmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(channels))
	le(uint32(rate))
	le(uint32(rate * block))
	le(uint16(block))
	le(uint16(bits))
	b.WriteString("LIST")
	le(uint32(len(list)))
	b.Write(list)
	b.WriteByte(0)
	b.WriteString("data")
	le(uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func TestWAVInfo(t *testing.T) {
	full := makeWAV(t, 8000, 1, 16, 12000) // 1.5 s
	stereo := makeWAV(t, 16000, 2, 16, 4000)
	dataAt := bytes.Index(full, []byte("data")) + 4
	streaming := bytes.Clone(full)
	binary.LittleEndian.PutUint32(streaming[dataAt:], 0xFFFFFFFF)
	noFmt := bytes.Clone(full)
	copy(noFmt[12:16], "junk")

	tests := []struct {
		name     string
		data     []byte
		wantDur  time.Duration
		wantRate int
		wantCh   int
		wantErr  error
	}{
		{"mono 1.5 s", full, 1500 * time.Millisecond, 8000, 1, nil},
		{"stereo 16 kHz", stereo, 250 * time.Millisecond, 16000, 2, nil},
		{"cut short", full[:len(full)-8000], time.Second, 8000, 1, nil},
		{"unset data size", streaming, 1500 * time.Millisecond, 8000, 1, nil},
		{"no audio", full[:dataAt+4], 0, 8000, 1, nil},
		{"empty", nil, 0, 0, 0, ErrNotWAV},
		{"not RIFF", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), 0, 0, 0, ErrNotWAV},
		{"no fmt before data", noFmt, 0, 0, 0, ErrNotWAV},
		{"header only", full[:12], 0, 0, 0, ErrNotWAV},
		{"fmt cut short", full[:30], 0, 0, 0, ErrNotWAV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, rate, ch, err := WAVInfo(bytes.NewReader(tt.data))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("WAVInfo error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || d != tt.wantDur || rate != tt.wantRate || ch != tt.wantCh {
				t.Fatalf("WAVInfo = %v, %d Hz, %d ch, %v; want %v, %d Hz, %d ch",
					d, rate, ch, err, tt.wantDur, tt.wantRate, tt.wantCh)
			}
		})
	}
}

func FuzzWAVInfo(f *testing.F) {
	f.Add(makeWAV(f, 8000, 1, 16, 100))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, _, _, err := WAVInfo(bytes.NewReader(data))
		if err == nil && d < 0 {
			t.Fatalf("negative duration %v", d)
		}
	})
}
