package asterisktest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

var placeholder = regexp.MustCompile(`@@[A-Z0-9_]*@@`)

// Render renders every *.conf template of templateDir into outDir the way
// scripts/asterisk/render.sh does: each @@NAME@@ becomes vars[NAME], trailing
// newlines collapse to one, and a placeholder without a value is an error that
// leaves outDir untouched.
func Render(templateDir, outDir string, vars map[string]string) error {
	files, err := filepath.Glob(filepath.Join(templateDir, "*.conf"))
	if err != nil {
		return fmt.Errorf("asterisktest: render: %w", err)
	}
	if len(files) == 0 {
		return fmt.Errorf("asterisktest: render: no *.conf templates in %s", templateDir)
	}
	sort.Strings(files)
	rendered := make(map[string][]byte, len(files))
	var missing []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("asterisktest: render: %w", err)
		}
		out := placeholder.ReplaceAllStringFunc(string(src), func(ph string) string {
			v, ok := vars[strings.Trim(ph, "@")]
			if !ok {
				missing = append(missing, filepath.Base(f)+": "+ph)
				return ph
			}
			return v
		})
		rendered[filepath.Base(f)] = []byte(strings.TrimRight(out, "\n") + "\n")
	}
	if len(missing) > 0 {
		return fmt.Errorf("asterisktest: render: no value for %s", strings.Join(missing, ", "))
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("asterisktest: render: %w", err)
	}
	for name, data := range rendered {
		if err := writeFileAtomic(filepath.Join(outDir, name), data); err != nil {
			return fmt.Errorf("asterisktest: render %s: %w", name, err)
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
