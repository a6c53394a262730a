package fstest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

var placeholder = regexp.MustCompile(`@@[A-Z0-9_]*@@`)

// Render copies every *.xml file under templateDir (deploy/freeswitch) into
// outDir, keeping the folder layout, with each @@NAME@@ replaced by
// vars[NAME]. A placeholder without a value is an error and nothing is
// written.
func Render(templateDir, outDir string, vars map[string]string) error {
	rendered := map[string][]byte{}
	var missing []string
	err := filepath.WalkDir(templateDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".xml") {
			return err
		}
		rel, err := filepath.Rel(templateDir, path)
		if err != nil {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rendered[rel] = []byte(placeholder.ReplaceAllStringFunc(string(src), func(ph string) string {
			v, ok := vars[strings.Trim(ph, "@")]
			if !ok {
				missing = append(missing, rel+": "+ph)
				return ph
			}
			return v
		}))
		return nil
	})
	if err != nil {
		return fmt.Errorf("fstest: render: %w", err)
	}
	if len(rendered) == 0 {
		return fmt.Errorf("fstest: render: no *.xml templates in %s", templateDir)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("fstest: render: no value for %s", strings.Join(missing, ", "))
	}
	for rel, data := range rendered {
		dst := filepath.Join(outDir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("fstest: render: %w", err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return fmt.Errorf("fstest: render: %w", err)
		}
	}
	return nil
}
