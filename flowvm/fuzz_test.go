package flowvm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// FuzzLoad: Load never panics, and every error it returns is an ErrorList
// whose entries carry a file and a position.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(allFlow))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"main.yaml": &fstest.MapFile{Data: data},
			"sub.yaml":  &fstest.MapFile{Data: []byte("start: r\nnotations:\n  r: {type: return}\n")},
			"inq.yaml":  &fstest.MapFile{Data: []byte("start: w\nnotations:\n  w: {type: wait, duration: 1s}\n")},
		}
		p, err := Load(fsys, "main")
		if err == nil {
			if p == nil {
				t.Fatal("nil program without error")
			}
			return
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("err %T %v is not a non-empty ErrorList", err, err)
		}
		for _, e := range list {
			if e.File == "" || e.Line < 1 || e.Col < 1 {
				t.Fatalf("error without position: %+v", e)
			}
			if len(e.Msg) >= 15 && e.Msg[:15] == "internal error:" {
				t.Fatalf("loader panicked: %v", e)
			}
		}
	})
}
