package flowvm

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite doc.go's notation reference")

const refStart, refEnd = "// # Notation reference\n//\n", "//\n// (end of reference)\n"

// TestDocReference keeps the notation reference in doc.go equal to the
// parameter tables (go test -run TestDocReference -update rewrites it).
func TestDocReference(t *testing.T) {
	var ref bytes.Buffer
	if err := Reference(&ref); err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	for _, line := range strings.Split(strings.TrimRight(ref.String(), "\n"), "\n") {
		if line == "" {
			body.WriteString("//\n")
		} else {
			body.WriteString("// " + line + "\n")
		}
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(doc, []byte(refStart)), bytes.Index(doc, []byte(refEnd))
	if i < 0 || j < i {
		t.Fatal("doc.go lacks the reference markers")
	}
	got := string(doc[i+len(refStart) : j])
	if got == body.String() {
		return
	}
	if !*update {
		t.Fatal("doc.go's notation reference is out of date; run go test -run TestDocReference -update")
	}
	out := string(doc[:i+len(refStart)]) + body.String() + string(doc[j:])
	if err := os.WriteFile("doc.go", []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}
