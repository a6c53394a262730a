// Command package builds the callflow Debian package (see docs/operations.md):
//
//	go run ./cmd/package --binary bin/callflow --version 1.2.3 --out dist
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/callflow/callflow/internal/packaging"
)

func main() {
	var o packaging.Options
	flag.StringVar(&o.Root, "root", ".", "repository root")
	flag.StringVar(&o.Binary, "binary", "bin/callflow", "callflow binary to pack")
	flag.StringVar(&o.Version, "version", "dev", "package version (git describe output is fine)")
	flag.StringVar(&o.Arch, "arch", "", "Go architecture (default: this machine's)")
	flag.StringVar(&o.OutDir, "out", "dist", "output folder")
	flag.Parse()
	path, err := packaging.Build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
